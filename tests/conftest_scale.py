"""Helpers for the scale, ONNX, Ray and reliability tests: tiny trained models (seconds, no download), cheap
stand-in probability functions and file digests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
_MODELS: dict[tuple[str, str], Path] = {}


def tiny_model(method: str, tiny_bert: str, toy_posts: tuple[list[str], list[str]], base: Path) -> Path:
    """A ``head`` or ``finetune`` classifier on the tiny random BERT, trained once per test session."""
    from classifiers import TextClassifier, TrainingConfig

    key = (method, tiny_bert)
    if key not in _MODELS:
        texts, labels = toy_posts
        config = TrainingConfig(method=method, model=tiny_bert, max_length=32, epochs=2, learning_rate=5e-3,
                                batch_size=8, dev_fraction=0.0, seed=3)
        directory = base / f"tiny-{method}"
        TextClassifier(config).fit(texts, labels).save_pretrained(directory)
        _MODELS[key] = directory
    return _MODELS[key]


def posts_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` varied posts (some sick, some not, one very long, some non-ASCII) with an id column."""
    rng = np.random.default_rng(seed)
    sick = ["tested positive for covid, fever and cough", "my mom has covid and lost her smell",
            "day 3 of covid, so tired"]
    other = ["wash your hands and stay safe", "the news about the vaccine rollout", "lockdown again, so bored"]
    texts = []
    for i in range(n):
        pool = sick if rng.random() < 0.3 else other
        texts.append(f"{pool[int(rng.integers(len(pool)))]} #{i}")
    if n > 7:
        texts[3], texts[5], texts[7] = "long post " * 400, "Привет, у меня температура 😷", "🤒🤒🤒"
    return pd.DataFrame({"id": [str(i) for i in range(n)], "tweet": texts})


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def constant_proba(texts: list[str]) -> np.ndarray:
    """A stand-in classifier: probability of "b" grows with the post's length (deterministic, instant)."""
    lengths = np.array([len(t) for t in texts], dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-(lengths - 40.0) / 10.0))
    return np.stack([1.0 - p, p], axis=1)


def decide_ab(proba: np.ndarray) -> list[str]:
    return ["b" if row[1] >= 0.5 else "a" for row in proba]


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m classifiers ...`` exactly as a user runs it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "classifiers", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)
