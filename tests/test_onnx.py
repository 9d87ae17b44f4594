"""ONNX Runtime inference: same probabilities as torch (fp32), same labels (int8), a cached atomic export."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classifiers import TextClassifier
from classifiers.cli import main
from classifiers.onnx_backend import FP32_FILE, INT8_FILE, META_FILE, ONNX_DIR, OnnxClassifier, export_onnx
from tests.conftest_scale import posts_frame, tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def models(tiny_bert, toy_posts, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("onnx-models")
    return {m: tiny_model(m, tiny_bert, toy_posts, base) for m in ("finetune", "head")}


@pytest.fixture(scope="module")
def probe(toy_posts) -> list[str]:
    texts, _ = toy_posts
    return texts + posts_frame(12).tweet.tolist() + ["", "   ", "x", "control\x00\x07chars\x1b[31m"]


@pytest.mark.parametrize("method", ["finetune", "head"])
def test_fp32_matches_torch(models, probe, method):
    torch_model = TextClassifier.from_pretrained(models[method])
    onnx_model = OnnxClassifier.from_pretrained(models[method])
    expected = torch_model.predict_proba(probe)
    got = onnx_model.predict_proba(probe)
    assert got.shape == expected.shape == (len(probe), 2)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert onnx_model.predict(probe) == torch_model.predict(probe)
    assert onnx_model.labels == torch_model.labels and onnx_model.threshold == torch_model.threshold
    assert (models[method] / ONNX_DIR / FP32_FILE).exists() and (models[method] / ONNX_DIR / META_FILE).exists()


@pytest.mark.parametrize("method", ["finetune", "head"])
def test_int8_keeps_labels(models, probe, method):
    torch_model = TextClassifier.from_pretrained(models[method])
    int8 = OnnxClassifier.from_pretrained(models[method], quantize="int8")
    assert (models[method] / ONNX_DIR / INT8_FILE).stat().st_size < (models[method] / ONNX_DIR / FP32_FILE).stat().st_size
    np.testing.assert_allclose(int8.predict_proba(probe), torch_model.predict_proba(probe), atol=0.02)
    assert int8.predict(probe) == torch_model.predict(probe)


def test_export_is_cached_and_refreshed_when_weights_change(models):
    directory = models["finetune"]
    path = export_onnx(directory)
    first = path.stat().st_mtime_ns
    assert export_onnx(directory).stat().st_mtime_ns == first, "a second load reuses the cached export"
    weights = directory / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert export_onnx(directory).stat().st_mtime_ns != first, "new weights, new export"


def test_failed_export_leaves_no_half_written_file(models, monkeypatch, tmp_path):
    import shutil

    import torch

    directory = tmp_path / "copy"
    shutil.copytree(models["finetune"], directory)
    shutil.rmtree(directory / ONNX_DIR, ignore_errors=True)

    def crashes(module, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx file")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(torch.onnx, "export", crashes)
    with pytest.raises(RuntimeError, match="killed mid-export"):
        export_onnx(directory)
    assert not (directory / ONNX_DIR / FP32_FILE).exists()
    assert not [p for p in (directory / ONNX_DIR).iterdir() if p.name.endswith(".tmp")]


def test_corrupt_onnx_file_gets_a_clear_error(models, tmp_path):
    import shutil

    directory = tmp_path / "copy"
    shutil.copytree(models["head"], directory)
    export_onnx(directory)
    path = directory / ONNX_DIR / FP32_FILE
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cannot load the ONNX model.*delete the onnx/ folder"):
        OnnxClassifier.from_pretrained(directory)


def test_long_posts_are_truncated_with_a_warning(models):
    model = OnnxClassifier.from_pretrained(models["finetune"])
    with pytest.warns(UserWarning, match="truncated"):
        proba = model.predict_proba(["fever " * 20_000])
    assert proba.shape == (1, 2) and np.isfinite(proba).all()


def test_non_strings_are_refused(models):
    model = OnnxClassifier.from_pretrained(models["finetune"])
    with pytest.raises(TypeError, match=r"items \[1\] are not"):
        model.predict_proba(["ok", None])
    assert model.predict_proba([]).shape == (0, 2)


def test_cli_onnx_engine_matches_torch(models, tmp_path, capsys):
    data = tmp_path / "posts.csv"
    posts_frame(60).to_csv(data, index=False)
    outputs = {}
    for engine in ("torch", "onnx"):
        outputs[engine] = tmp_path / f"{engine}.csv"
        assert main(["predict", "--model", str(models["finetune"]), "--data", str(data), "--output",
                     str(outputs[engine]), "--engine", engine, "--chunk-size", "25"]) == 0
    torch_frame, onnx_frame = (pd.read_csv(outputs[e], dtype=str) for e in ("torch", "onnx"))
    assert list(onnx_frame.columns) == ["id", "tweet", "predicted_label", "proba_0", "proba_1"]
    assert onnx_frame.predicted_label.tolist() == torch_frame.predicted_label.tolist()
    np.testing.assert_allclose(onnx_frame.proba_1.astype(float), torch_frame.proba_1.astype(float), atol=1e-4)
    assert "onnx engine" in capsys.readouterr().out


def test_cli_refuses_quantize_with_torch(models, tmp_path, capsys):
    data = tmp_path / "posts.csv"
    posts_frame(5).to_csv(data, index=False)
    code = main(["predict", "--model", str(models["head"]), "--data", str(data), "--output", str(tmp_path / "o.csv"),
                 "--quantize", "int8"])
    assert code == 2 and "--quantize works with the ONNX engine only" in capsys.readouterr().err
