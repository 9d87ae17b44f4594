"""Training configuration: one frozen, keyword-only dataclass with defaults and checks, saved beside the model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Method = Literal["head", "finetune"]
ClassWeight = Literal["balanced"] | None | tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Everything that decides how a classifier is trained; ``TextClassifier`` keeps it in the model card.

    ``class_weight``: "balanced" (inverse class frequency), None (plain loss) or one weight per label in
    sorted-label order (ALEX used (1, 2) for binary tasks and (2, 1, 2) for 3-class).
    """

    method: Method = "head"
    model: str = "embedded"
    max_length: int = 256
    class_weight: ClassWeight = "balanced"
    loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = 2.0
    seed: int = 13
    # finetune
    epochs: int = 3
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    batch_size: int | None = None
    patience: int = 2
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: str | None = None
    dev_fraction: float = 0.1
    # head
    features: Literal["embedding", "embedding+tfidf"] = "embedding+tfidf"
    head_c: float | None = None
    # evaluation
    metric: Literal["auto", "positive_f1", "micro_f1", "macro_f1"] = "auto"
    positive_label: str | None = None
    tune_threshold: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("head", "finetune"):
            raise ValueError(f"method must be 'head' or 'finetune', not {self.method!r}")
        if self.max_length < 8 or self.max_length > 8192:
            raise ValueError(f"max_length must be between 8 and 8192, not {self.max_length}")
        if isinstance(self.class_weight, list):
            object.__setattr__(self, "class_weight", tuple(float(w) for w in self.class_weight))
        if isinstance(self.class_weight, str) and self.class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', None or a list of numbers, not {self.class_weight!r}")
        if isinstance(self.class_weight, tuple) and any(w <= 0 for w in self.class_weight):
            raise ValueError(f"class_weight values must be positive, got {list(self.class_weight)}")
        if self.loss not in ("ce", "focal"):
            raise ValueError(f"loss must be 'ce' or 'focal', not {self.loss!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be in (0, 1), not {self.learning_rate}")
        if not 0 <= self.dev_fraction < 0.5:
            raise ValueError(f"dev_fraction must be in [0, 0.5), not {self.dev_fraction}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {self.batch_size}")
        if self.head_c is not None and self.head_c <= 0:
            raise ValueError(f"head_c must be positive, not {self.head_c}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(self.class_weight, tuple):
            data["class_weight"] = list(self.class_weight)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        """Unknown keys (from a newer version) are ignored rather than crashing an older reader."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
