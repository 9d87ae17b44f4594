"""Imbalance-aware losses and class weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def class_weights(y: Sequence[int], n_classes: int, spec: str | Sequence[float] | None) -> np.ndarray | None:
    """Per-class weights: inverse frequency for "balanced" (sklearn's formula), the user's list, or None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes).astype(float)
        if (counts == 0).any():
            missing = [i for i in range(n_classes) if counts[i] == 0]
            raise ValueError(f"cannot balance: labels {missing} have no training examples")
        return len(y) / (n_classes * counts)
    weights = np.asarray(list(spec), dtype=float)
    if weights.shape != (n_classes,):
        raise ValueError(f"class_weight has {weights.size} values but there are {n_classes} labels")
    return weights


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): down-weights easy examples so the minority class drives the gradient."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        log_pt = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        loss = -((1 - log_pt.exp()) ** self.gamma) * log_pt
        if self.weight is not None:
            w = self.weight.to(loss.device)[target]
            return (loss * w).sum() / w.sum()
        return loss.mean()


def build_loss(kind: str, weights: np.ndarray | None, gamma: float = 2.0) -> nn.Module:
    tensor = torch.tensor(weights, dtype=torch.float32) if weights is not None else None
    if kind == "focal":
        return FocalLoss(gamma=gamma, weight=tensor)
    return nn.CrossEntropyLoss(weight=tensor)
