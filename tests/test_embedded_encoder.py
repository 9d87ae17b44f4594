"""The real embedded all-MiniLM-L6-v2: loads offline from the PyPI package, trains and reloads."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers import TextClassifier, load_table, validate
from classifiers.encoder import SentenceEncoder, embedded_model_dir, resolve_model
from tests.conftest import DATA


def test_embedded_model_is_found_in_the_package():
    path = embedded_model_dir()
    assert (path / "model.safetensors").exists()
    assert resolve_model(None) == resolve_model("embedded") == str(path)


@pytest.mark.slow
def test_embeddings_are_normalised_and_meaningful(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = SentenceEncoder(max_length=64)
    vectors = encoder.encode(["I have a fever and a cough", "I am coughing and feverish", "The stock market fell"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


@pytest.mark.slow
def test_head_trains_and_reloads_with_minilm(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    table = validate(load_table(DATA / "drugsComTrain.tsv"))
    texts, labels = table.texts[:48], table.labels[:48]
    model = TextClassifier(method="head", max_length=128).fit(texts, labels)
    assert set(model.labels) == set(labels)
    model.save_pretrained(tmp_path / "minilm-head")
    loaded = TextClassifier.from_pretrained(tmp_path / "minilm-head")
    np.testing.assert_allclose(loaded.predict_proba(texts[:8]), model.predict_proba(texts[:8]), atol=1e-5)
    assert loaded.evaluate(texts, labels)["accuracy"] > 0.8, "a head must at least fit its own training posts"
