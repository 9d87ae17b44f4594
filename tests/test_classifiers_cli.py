"""``python -m classifiers`` through a subprocess, as a user runs it, on a tiny BERT."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from classifiers.scoring import score_file

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "classifiers", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_bert, toy_posts) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    texts, labels = toy_posts
    data = tmp / "train.csv"
    pd.DataFrame({"tweet": texts, "label": labels}).to_csv(data, index=False)
    test = tmp / "test.jsonl"
    pd.DataFrame({"tweet": [f"Again: {t}" for t in texts], "label": labels}).to_json(
        test, orient="records", lines=True)
    result = run("train", "--train", str(data), "--test", str(test), "--model", tiny_bert, "--max-length", "32",
                 "--output", str(tmp / "model"))
    assert result.returncode == 0, result.stderr
    assert "TF-IDF baseline" in result.stdout and "positive_f1" in result.stdout
    return tmp / "model", data


def test_train_writes_model_and_baseline(trained):
    model_dir, _ = trained
    assert (model_dir / "classifier_config.json").exists() and (model_dir / "baseline.joblib").exists()
    card = json.loads((model_dir / "classifier_config.json").read_text())
    assert set(card["metrics"]) == {"test", "test_baseline"}


def test_evaluate_json_and_plot(trained, tmp_path):
    model_dir, data = trained
    result = run("evaluate", "--model", str(model_dir), "--data", str(data), "--json", "--plot", str(tmp_path / "cm.png"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"positive_f1", "micro_f1", "macro_f1", "per_class", "confusion_matrix"} <= set(report["model"])
    assert report["baseline"]["n"] == report["model"]["n"] == 40
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_writes_rows_plus_probabilities(trained, tmp_path):
    model_dir, data = trained
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    out = tmp_path / "pred.csv"
    result = run("predict", "--model", str(model_dir), "--data", str(data), "--output", str(out), "--chunk-size", "7")
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out, dtype=str)
    assert list(frame.columns) == ["tweet", "label", "predicted_label", "proba_0", "proba_1"]
    assert len(frame) == 40 and set(frame.predicted_label) <= {"0", "1"}
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob("*.partial"))


def test_precision_is_a_torch_engine_option(trained, tmp_path):
    model_dir, data = trained
    result = run("predict", "--model", str(model_dir), "--data", str(data), "--output", str(tmp_path / "p.csv"),
                 "--engine", "onnx", "--precision", "bf16")
    assert result.returncode == 2 and "--precision works with the torch engine only" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "p.csv").exists()


def test_predict_refuses_to_overwrite_input(trained):
    model_dir, data = trained
    result = run("predict", "--model", str(model_dir), "--data", str(data), "--output", str(data))
    assert result.returncode == 2 and "refusing to overwrite the input" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["evaluate", "--model", "/no/such/dir", "--data", "x.csv"], "model directory not found"),
    (["train", "--train", "/no/such.csv", "--output", "/tmp/x"], "file not found"),
])
def test_errors_without_traceback(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_train_on_its_own_test_set_is_refused(trained, tiny_bert, tmp_path):
    _, data = trained
    result = run("train", "--train", str(data), "--test", str(data), "--model", tiny_bert, "--output", str(tmp_path / "m"))
    assert result.returncode == 2 and "no training rows left" in result.stderr


def test_help():
    result = run("train", "--help")
    assert result.returncode == 0 and "--method {head,finetune}" in result.stdout


def test_scoring_resumes_after_interruption(tmp_path):
    data = tmp_path / "big.csv"
    pd.DataFrame({"text": [f"post {i}" for i in range(25)]}).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    calls = []

    def proba(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        import numpy as np
        return np.tile([0.25, 0.75], (len(texts), 1))

    decide = lambda p: ["b"] * len(p)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        score_file(data, out, proba, ["a", "b"], decide, chunksize=10)
    assert not out.exists(), "an interrupted run leaves no half-written output in place"
    report = score_file(data, out, proba, ["a", "b"], decide, chunksize=10)
    assert report.resumed_from == 20 and report.rows == 25
    frame = pd.read_csv(out)
    assert frame.text.tolist() == [f"post {i}" for i in range(25)]
    assert frame.proba_b.tolist() == [0.75] * 25
