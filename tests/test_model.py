"""The classifier object: fit / predict / predict_proba / save_pretrained / from_pretrained, on a tiny BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from classifiers import TextClassifier, TrainingConfig
from classifiers.device import select_precision
from classifiers.losses import FocalLoss, class_weights
from classifiers.threshold import tune_threshold


def test_head_fit_predict_roundtrip(tiny_bert, toy_posts, tmp_path):
    texts, labels = toy_posts
    model = TextClassifier(method="head", model=tiny_bert, max_length=32).fit(texts, labels)
    assert model.labels == ["0", "1"] and model.positive_label == "1"
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert model.predict("I tested positive for covid today, fever and cough day 3") == ["1"]
    assert model.evaluate(texts, labels)["positive_f1"] == 1.0
    model.save_pretrained(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "classifier_config.json").read_text())
    assert card["id2label"] == {"0": "0", "1": "1"} and card["method"] == "head"
    assert (tmp_path / "m" / "README.md").read_text().startswith("# Health-post classifier")
    loaded = TextClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, atol=1e-6)
    assert loaded.threshold == model.threshold


def test_finetune_learns_and_roundtrips(tiny_bert, toy_posts, tmp_path):
    texts, labels = toy_posts
    config = TrainingConfig(method="finetune", model=tiny_bert, max_length=24, epochs=4, learning_rate=5e-3,
                            batch_size=8, dev_fraction=0.0, seed=3)
    model = TextClassifier(config).fit(texts, labels, texts, labels)
    assert model.evaluate(texts, labels)["positive_f1"] > 0.9
    model.save_pretrained(tmp_path / "ft")
    assert (tmp_path / "ft" / "model.safetensors").exists()
    loaded = TextClassifier.from_pretrained(tmp_path / "ft")
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert loaded.predict(texts) == model.predict(texts)
    # bf16 inference on the CPU (a load-time override): same labels, probabilities within bf16 rounding
    fast = TextClassifier.from_pretrained(tmp_path / "ft", precision="bf16")
    assert fast.config.precision == "bf16" and loaded.config.precision == "auto"
    np.testing.assert_allclose(fast.predict_proba(texts), model.predict_proba(texts), atol=0.05)
    assert fast.predict(texts) == model.predict(texts)


def test_finetune_is_deterministic_for_a_seed(tiny_bert, toy_posts):
    texts, labels = toy_posts
    config = TrainingConfig(method="finetune", model=tiny_bert, max_length=16, epochs=1, batch_size=8,
                            dev_fraction=0.2, seed=5)
    a = TextClassifier(config).fit(texts, labels).predict_proba(texts[:5])
    b = TextClassifier(config).fit(texts, labels).predict_proba(texts[:5])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_finetune_resumes_from_checkpoint(tiny_bert, toy_posts, tmp_path, monkeypatch):
    """A run killed after epoch 1 continues from its checkpoint and ends where an uninterrupted run ends."""
    from classifiers.finetune import FinetuneBackend

    texts, labels = toy_posts
    config = TrainingConfig(method="finetune", model=tiny_bert, max_length=16, epochs=2, batch_size=8,
                            dev_fraction=0.0, seed=7, patience=5)
    uninterrupted = TextClassifier(config).fit(texts, labels, texts, labels).predict_proba(texts[:6])
    original = FinetuneBackend._train_epoch
    calls = []

    def dies_in_second_epoch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FinetuneBackend, "_train_epoch", dies_in_second_epoch)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        TextClassifier(config).fit(texts, labels, texts, labels, checkpoint_dir=ckpt)
    assert torch.load(ckpt / "checkpoint.pt", weights_only=False)["state"]["epoch"] == 1
    resumed = TextClassifier(config).fit(texts, labels, texts, labels, checkpoint_dir=ckpt)
    assert len(calls) == 3, "the resumed run trains only the missing epoch"
    np.testing.assert_allclose(resumed.predict_proba(texts[:6]), uninterrupted, atol=1e-5)


def test_string_labels_and_user_class_weights(tiny_bert):
    texts = ["great drug, works"] * 3 + ["awful side effects"] * 3 + ["it is ok I guess"] * 3
    texts = [f"{t} {i}" for i, t in enumerate(texts)]
    labels = ["positive"] * 3 + ["negative"] * 3 + ["neutral"] * 3
    model = TextClassifier(method="head", model=tiny_bert, max_length=16, class_weight=(2, 1, 2)).fit(texts, labels)
    assert model.labels == ["negative", "neutral", "positive"]
    assert model.threshold is None and model.positive_label is None
    assert set(model.predict(texts)) <= set(labels)
    assert model.training_info["class_weights"] == [2.0, 1.0, 2.0]


def test_errors_are_clear(tiny_bert, tmp_path):
    with pytest.raises(RuntimeError, match="not trained"):
        TextClassifier().predict("hello")
    with pytest.raises(ValueError, match="at least two labels"):
        TextClassifier(model=tiny_bert).fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        TextClassifier(model=tiny_bert).fit(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="model directory not found"):
        TextClassifier.from_pretrained(tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "classifier_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt classifier config"):
        TextClassifier.from_pretrained(tmp_path / "bad")
    with pytest.raises(ValueError, match="method must be"):
        TrainingConfig(method="svm")
    with pytest.raises(ValueError, match="model path does not exist"):
        TextClassifier(method="head", model="./no/such/model").fit(["a", "b"], ["x", "y"])


def test_class_weights_and_focal_loss():
    np.testing.assert_allclose(class_weights([0, 0, 0, 1], 2, "balanced"), [4 / 6, 2.0])
    assert class_weights([0, 1], 2, None) is None
    with pytest.raises(ValueError, match="3 values but there are 2 labels"):
        class_weights([0, 1], 2, [1, 2, 3])
    logits = torch.tensor([[4.0, -4.0], [0.1, 0.0]])
    target = torch.tensor([0, 1])
    per_example = FocalLoss(gamma=2.0)(logits[:1], target[:1])
    assert per_example < torch.nn.functional.cross_entropy(logits[:1], target[:1]), "easy examples are down-weighted"
    assert torch.isclose(FocalLoss(gamma=0.0)(logits, target), torch.nn.functional.cross_entropy(logits, target))


def test_precision_selection_covers_gpu_paths_on_cpu():
    assert select_precision("cpu").name == "fp32"
    assert select_precision("cuda", bf16_supported=True).name == "bf16"
    fp16 = select_precision("cuda", bf16_supported=False)
    assert fp16.name == "fp16" and fp16.use_grad_scaler
    assert select_precision("cuda", "fp32").name == "fp32"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        select_precision("cpu", "fp16")


def test_threshold_tuning_maximises_positive_f1():
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.35, 0.3, 0.9])
    assert tune_threshold(y, scores, 1) == pytest.approx(0.3)
    assert tune_threshold(np.zeros(3, dtype=int), scores[:3], 1) == 0.5
