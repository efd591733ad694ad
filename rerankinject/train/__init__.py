"""Fine-tuning score-injecting cross-encoders (CAT, BM25CAT, DPRCAT, BM25DPRCAT, bm25added).

Modules: :mod:`.config` (YAML + flags), :mod:`.data` (pairs from runs and qrels), :mod:`.teachers` (distillation
teachers), :mod:`.losses` (loss functions and the group loss), :mod:`.examples` (groups, tokens once, the collator),
:mod:`.validation` (re-ranking evaluation through the re-ranker), :mod:`.trainer` (the Hugging Face Trainer: loop,
checkpoints, resume, DDP), :mod:`.pipeline` (config -> trained model). CLI: ``python -m rerankinject.train``.
"""

from .config import TrainConfig, load_config
from .pipeline import evaluate_test, prepare, rerank_validation, train_from_config
from .trainer import InjectionTrainer, train_model

__all__ = ["TrainConfig", "load_config", "prepare", "train_from_config", "evaluate_test", "rerank_validation",
           "InjectionTrainer", "train_model"]
