"""Full fine-tuning of a BERT-family encoder with a class-weighted (or focal) loss, early stopping on the dev
metric, mixed precision on CUDA, and per-epoch checkpoints so an interrupted run resumes."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from classifiers.config import TrainingConfig
from classifiers.device import Precision, configure_cpu_threads, default_batch_size, select_device, select_precision
from classifiers.encoder import length_sorted_batches, load_tokenizer, local_only, resolve_model
from classifiers.io import atomic_path
from classifiers.losses import build_loss

logger = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.pt"


def seed_everything(seed: int) -> torch.Generator:
    """Seed the libraries that sample during training; returns a generator for the data order."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code (dropout init paths) reads the global state
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class FinetuneBackend:
    """A sequence-classification model on top of the encoder, trained end to end."""

    def __init__(self, config: TrainingConfig, labels: Sequence[str] | None = None) -> None:
        self.config = config
        self.device = select_device(config.device)
        self.precision: Precision = select_precision(self.device, config.precision)
        self.batch_size = config.batch_size or default_batch_size(self.device)
        self.model = None
        self.tokenizer = None
        self.labels = list(labels or [])

    def _build(self, labels: Sequence[str]) -> None:
        from transformers import AutoModelForSequenceClassification

        resolved = resolve_model(self.config.model)
        self.tokenizer = load_tokenizer(resolved)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            resolved, num_labels=len(labels), local_files_only=local_only(resolved),
            id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        ).to(self.device)

    def _autocast(self):
        if self.precision.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.precision.autocast_dtype)

    def _encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.config.max_length,
                              return_tensors="pt").to(self.device)

    def fit(self, texts: Sequence[str], y: np.ndarray, weights: np.ndarray | None, labels: Sequence[str],
            dev: tuple[Sequence[str], np.ndarray] | None, score: Callable[[np.ndarray, np.ndarray], float],
            checkpoint_dir: Path | None = None) -> np.ndarray | None:
        """Train; keeps the weights of the best dev epoch. Returns dev probabilities of that epoch."""
        configure_cpu_threads()
        generator = seed_everything(self.config.seed)
        self.labels = list(labels)
        self._build(labels)
        loss_fn = build_loss(self.config.loss, weights, self.config.focal_gamma).to(self.device)
        steps_per_epoch = (len(texts) + self.batch_size - 1) // self.batch_size
        optimizer, scheduler = self._optimizer(steps_per_epoch * self.config.epochs)
        scaler = torch.amp.GradScaler("cuda", enabled=self.precision.use_grad_scaler)
        state = {"epoch": 0, "best": -1.0, "best_state": None, "stale": 0, "best_dev_proba": None}
        if checkpoint_dir is not None:
            state = self._resume(checkpoint_dir, optimizer, scheduler, scaler, state, generator)
        for epoch in range(state["epoch"], self.config.epochs):
            self._train_epoch(texts, y, loss_fn, optimizer, scheduler, scaler, generator, epoch)
            state["epoch"] = epoch + 1
            if dev is not None:
                proba = self.predict_proba(dev[0])
                value = score(dev[1], proba)
                logger.info("epoch %d: dev %.4f", epoch + 1, value)
                if value > state["best"]:
                    state.update(best=value, stale=0, best_dev_proba=proba,
                                 best_state={k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()})
                else:
                    state["stale"] += 1
            if checkpoint_dir is not None:
                self._checkpoint(checkpoint_dir, optimizer, scheduler, scaler, state, generator)
            if dev is not None and state["stale"] >= self.config.patience:
                logger.info("early stopping after epoch %d", epoch + 1)
                break
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        self.model.eval()
        return state["best_dev_proba"]

    def _optimizer(self, total_steps: int):
        from transformers import get_linear_schedule_with_warmup

        decay = [p for n, p in self.model.named_parameters() if not n.endswith(("bias", "LayerNorm.weight"))]
        no_decay = [p for n, p in self.model.named_parameters() if n.endswith(("bias", "LayerNorm.weight"))]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.config.learning_rate,
        )
        warmup = int(total_steps * self.config.warmup_ratio)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, max(total_steps, 1))

    def _train_epoch(self, texts, y, loss_fn, optimizer, scheduler, scaler, generator, epoch: int) -> None:
        self.model.train()
        order = torch.randperm(len(texts), generator=generator).tolist()
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch")
        for batch in bar:
            enc = self._encode([texts[i] for i in batch])
            target = torch.as_tensor(y[batch], device=self.device)
            with self._autocast():
                logits = self.model(**enc).logits
            loss = loss_fn(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")

    def _checkpoint(self, directory: Path, optimizer, scheduler, scaler, state: dict, generator) -> None:
        payload = {"model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "state": state,
                   "generator": generator.get_state(), "config": self.config.to_dict()}
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / CHECKPOINT_FILE) as tmp:
            torch.save(payload, tmp)

    def _resume(self, directory: Path, optimizer, scheduler, scaler, state: dict, generator) -> dict:
        path = directory / CHECKPOINT_FILE
        if not path.exists():
            return state
        payload = torch.load(path, map_location=self.device, weights_only=False)
        if payload.get("config") != self.config.to_dict():
            logger.warning("%s was written with another training config; starting from scratch", path)
            return state
        self.model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        scaler.load_state_dict(payload["scaler"])
        generator.set_state(payload["generator"])
        logger.info("resuming from %s after epoch %d", path, payload["state"]["epoch"])
        return payload["state"]

    def predict_proba(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Batched inference: length-sorted batches under ``inference_mode`` (and autocast on CUDA)."""
        if self.model is None:
            raise RuntimeError("the model is not trained: call fit() or from_pretrained() first")
        self.model.eval()
        texts = list(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        batches = length_sorted_batches([len(t) for t in texts], max(self.batch_size * 2, 32))
        with torch.inference_mode():
            for batch in tqdm(batches, desc="predicting", unit="batch", disable=not progress):
                with self._autocast():
                    logits = self.model(**self._encode([texts[i] for i in batch])).logits
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load(cls, directory: Path, config: TrainingConfig, labels: Sequence[str]) -> FinetuneBackend:
        from transformers import AutoModelForSequenceClassification

        backend = cls(config, labels)
        try:
            backend.tokenizer = load_tokenizer(str(directory))
            backend.model = AutoModelForSequenceClassification.from_pretrained(
                directory, local_files_only=True).to(backend.device)
        except Exception as err:  # OSError, ValueError, SafetensorError (a truncated file): name the folder
            raise ValueError(f"{directory}: cannot load the fine-tuned model ({type(err).__name__}: {err})") from None
        backend.model.eval()
        return backend
