"""Scoring backends behind one protocol (:class:`PairScorer`).

Torch, ONNX fp32, ONNX int8 and the two-precision cascade, made by one factory (:func:`make_scorer`) from one
parsed backend name (:class:`BackendSpec`); :class:`CrossEncoderModel` is a checkpoint folder (recipe, tokenizer,
input builder) with its scorer.
"""

from .factory import BACKENDS, BackendSpec, make_scorer
from .model import DEFAULT_INIT_MODEL, CrossEncoderModel
from .protocol import PairScorer

__all__ = ["PairScorer", "BACKENDS", "BackendSpec", "make_scorer", "CrossEncoderModel", "DEFAULT_INIT_MODEL"]
