"""Where training and inference run, and in which precision: CUDA with mixed precision when present, else all CPU cores."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


def select_device(preferred: str | None = None) -> str:
    """``preferred`` wins when given ("cpu", "cuda", "cuda:1", "mps"); otherwise CUDA if available, else CPU."""
    if preferred:
        if preferred.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {preferred!r} was requested but CUDA is not available on this machine")
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: autocast dtype (None = full fp32) and whether a gradient scaler is needed."""

    autocast_dtype: torch.dtype | None
    use_grad_scaler: bool

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]


def select_precision(device: str, requested: str = "auto", *, bf16_supported: bool | None = None) -> Precision:
    """bf16 where the GPU supports it, else fp16 with loss scaling; fp32 on CPU unless asked otherwise.

    ``bf16_supported`` is injectable so the GPU branch is testable on a CPU-only machine.
    """
    if requested not in {"auto", "fp32", "bf16", "fp16"}:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {requested!r}")
    on_cuda = device.startswith("cuda")
    if requested == "fp32" or (requested == "auto" and not on_cuda):
        return Precision(None, False)
    if bf16_supported is None:
        bf16_supported = on_cuda and torch.cuda.is_bf16_supported()
    if requested == "bf16" or (requested == "auto" and bf16_supported):
        return Precision(torch.bfloat16, False)
    if not on_cuda:
        raise ValueError("fp16 mixed precision needs a CUDA device; use fp32 or bf16 on the CPU")
    return Precision(torch.float16, True)


def default_batch_size(device: str, base: int = 16) -> int:
    """Larger batches on a GPU, where memory and parallelism allow them."""
    return base * 4 if device.startswith("cuda") else base


def configure_cpu_threads() -> int:
    """Use every core for intra-op parallelism unless the user capped it (OMP_NUM_THREADS / TORCH_NUM_THREADS)."""
    wanted = os.environ.get("TORCH_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    threads = int(wanted) if wanted and wanted.isdigit() else (os.cpu_count() or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
