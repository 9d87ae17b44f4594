"""Shared fixtures: a tiny random-weight BERT (seconds, no download), small labelled files, dataset paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def shared_datasets() -> Path:
    return Path(os.environ.get("SHARED_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = shared_datasets()
    if not path.is_dir():
        pytest.skip(f"shared datasets not found at {path} (set SHARED_DATASETS)")
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer, 32-wide BERT with random weights and the real MiniLM tokenizer, saved like a HF model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from classifiers.encoder import embedded_model_dir

    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir(), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def toy_posts() -> tuple[list[str], list[str]]:
    """An imbalanced two-class toy task that a bag of words separates."""
    sick = [f"I tested positive for covid today, fever and cough day {i}" for i in range(12)]
    other = [f"Stay safe everyone, wash your hands and read the news number {i}" for i in range(28)]
    return sick + other, ["1"] * len(sick) + ["0"] * len(other)


@pytest.fixture()
def toy_csv(tmp_path: Path, toy_posts) -> Path:
    import pandas as pd

    texts, labels = toy_posts
    path = tmp_path / "toy.csv"
    pd.DataFrame({"tweet": texts, "label": labels}).to_csv(path, index=False)
    return path
