"""Bi-encoder text encoding (Pyserini's ``encode``): :class:`TextEncoder` and :class:`DenseQueryEncoder`."""

from .encoder import EncoderSettings, TextEncoder, default_model_path, load_encoder_settings

__all__ = [
    "TextEncoder",
    "EncoderSettings",
    "default_model_path",
    "load_encoder_settings",
]
