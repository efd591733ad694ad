"""Score injection: the normaliser, the recipe and its text, the model input builder.

:mod:`.normalize` (the one :class:`Normalizer`), :mod:`.recipe` (:class:`InjectionRecipe`), :mod:`.inputs`
(:class:`InputBuilder`).
"""

from .inputs import InputBuilder
from .normalize import Normalizer, normalize_scores
from .recipe import VARIANTS, InjectionRecipe, recipe_for_variant, render_score

__all__ = [
    "Normalizer",
    "normalize_scores",
    "InjectionRecipe",
    "recipe_for_variant",
    "render_score",
    "VARIANTS",
    "InputBuilder",
]
