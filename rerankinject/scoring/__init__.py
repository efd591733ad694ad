"""Scoring backends behind one protocol (:class:`PairScorer`).

Torch, ONNX fp32, ONNX int8 and the two-precision cascade, made by one factory (:func:`make_scorer`) from one
parsed backend name (:class:`BackendSpec`); :class:`CrossEncoderModel` is a checkpoint folder (recipe, tokenizer,
input builder) with its scorer. ``ray_engine`` runs any of them on a Ray actor pool (imported on demand).
"""

from .factory import BACKENDS, BackendSpec, make_scorer
from .model import DEFAULT_INIT_MODEL, CrossEncoderModel
from .protocol import GroupScorer, PairScorer

__all__ = ["PairScorer", "GroupScorer", "BACKENDS", "BackendSpec", "make_scorer", "CrossEncoderModel",
           "DEFAULT_INIT_MODEL"]
