"""Fine-tuning score-injecting cross-encoders (CAT, BM25CAT, DPRCAT, BM25DPRCAT, bm25added).

Modules: :mod:`.config` (YAML + flags), :mod:`.data` (pairs from runs and qrels), :mod:`.teachers` (distillation
teachers), :mod:`.losses` (pure loss functions), :mod:`.validation` (re-ranking evaluation), :mod:`.trainer` (the
loop, checkpoints, resume), :mod:`.pipeline` (config -> trained model). CLI: ``python -m rerankinject.train``.
"""

from .config import TrainConfig, load_config
from .pipeline import evaluate_test, prepare, rerank_validation, train_from_config
from .trainer import Trainer

__all__ = ["TrainConfig", "load_config", "prepare", "train_from_config", "evaluate_test", "rerank_validation",
           "Trainer"]
