"""Score injection: the normaliser, the recipe and its text, the model input builder.

:mod:`.normalize` (the one :class:`Normalizer`), :mod:`.recipe` (:class:`InjectionRecipe`), :mod:`.inputs`
(:class:`InputBuilder`), :mod:`.interop` (the recipe in ``config.json`` and a model card; :func:`text_pairs` for
other libraries).
"""

from .inputs import InputBuilder
from .interop import text_pairs
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
    "text_pairs",
]
