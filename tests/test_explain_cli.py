"""``python -m agent index|explain|calibrate`` with fakes in-process, plus real subprocess runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import COMMANDS, main
from tests.conftest_explain import TRAIN, FakeEncoder, KeywordClassifier, StubLLM

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fakes(monkeypatch):
    """No model is loaded: the encoder, the classifier and the LLM are fakes behind the real factories."""
    llm = StubLLM({"label": "negative", "explanation": "It reports awful headaches."})
    monkeypatch.setattr("agent.retrieval.load_encoder", lambda name: FakeEncoder())
    monkeypatch.setattr("agent.loading.load_classifier", lambda path: KeywordClassifier())
    monkeypatch.setattr("agent.loading.get_llm", lambda config: llm)
    monkeypatch.setattr("agent.llm.get_llm", lambda config: llm)
    for name in ("ALEX_POLICY", "ALEX_INDEX", "ALEX_THRESHOLD", "ALEX_N_CTX"):
        monkeypatch.delenv(name, raising=False)
    return llm


@pytest.fixture
def train_csv(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    rows = ["text,label"] + [f'"{t}",{lab}' for t, lab in TRAIN]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def built(fakes, train_csv, tmp_path, capsys) -> Path:
    out = tmp_path / "index"
    assert main(["index", "--data", str(train_csv), "--output", str(out), "--task", str(REPO / "data" /
                                                                                      "task_drugscom.json")]) == 0
    capsys.readouterr()
    return out


def test_every_subcommand_has_help(capsys):
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([command.name, "--help"])
        assert exit_info.value.code == 0
    assert {c.name for c in COMMANDS} >= {"index", "explain", "calibrate"}


def test_index_builds_and_adds(fakes, train_csv, tmp_path, capsys):
    out = tmp_path / "index"
    assert main(["index", "--data", str(train_csv), "--output", str(out),
                 "--task", str(REPO / "data" / "task_drugscom.json")]) == 0
    assert "indexed 8 examples (flat, dim 64, encoder embedded)" in capsys.readouterr().out
    assert json.loads((out / "task.json").read_text())["labels"]["positive"]
    extra = tmp_path / "more.csv"
    extra.write_text("text,label\nBrand new awful pill,negative\n", encoding="utf-8")
    assert main(["index", "--data", str(extra), "--output", str(out), "--add", "--id-column", "text"]) == 0
    assert "indexed 9 examples" in capsys.readouterr().out
    assert (out / "task.json").exists()


def test_explain_prints_json_and_text(built, fakes, capsys):
    argv = ["explain", "--model", "m", "--index", str(built), "This pill gave me awful headaches"]
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["final_label"] == "negative" and result["llm_verdict"] == "agree"
    assert len(result["neighbours"]) == 5 and result["policy"] == "explain_only"
    assert {"bert_label", "bert_probabilities", "evidence", "review_flag", "explanation", "changed"} <= set(result)
    assert "patient's drug review" in fakes.requests[-1][0][0]["content"]  # the index's task.json reached the prompt
    assert main(argv + ["-k", "2", "--policy", "gated", "--threshold", "0.9"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Label: negative") and "policy gated(threshold=0.90)" in text
    assert "Similar labelled posts (k=2)" in text


def test_explain_reads_stdin_and_works_without_llm(built, fakes, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("It works great, helped a lot"))
    assert main(["explain", "--model", "m", "--index", str(built), "--no-llm", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["final_label"] == "positive" and result["llm_verdict"] == "unavailable"
    assert fakes.requests == []


def test_calibrate_stores_the_policy_with_the_index(built, fakes, tmp_path, capsys):
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\nawful terrible pill,negative\ngreat helped,positive\nnot sure yet,neutral\n"
                   "good but bad headache,negative\n", encoding="utf-8")
    assert main(["calibrate", "--model", "m", "--index", str(built), "--data", str(dev),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "chosen:" in out and "BERT alone:" in out
    record = json.loads((built / "policy.json").read_text())
    assert record["n"] == 4 and record["valid_llm_answers"] == 4 and record["policy"]["mode"] in {
        "explain_only", "alex", "gated", "neighbours"}
    assert (tmp_path / "cache" / "llm_answers.jsonl").exists()


def test_errors_are_one_line_and_exit_2(fakes, train_csv, tmp_path, capsys, monkeypatch):
    assert main(["index", "--data", str(train_csv), "--output", str(train_csv)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["explain", "--model", "m", "--index", str(tmp_path / "none"), "hi"]) == 2
    assert "index directory not found" in capsys.readouterr().err
    assert main(["index", "--data", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "x")]) == 2
    assert "file not found" in capsys.readouterr().err
    monkeypatch.setenv("ALEX_N_CTX", "lots")
    assert main(["explain", "--model", "m", "hi"]) == 2
    assert "ALEX_N_CTX" in capsys.readouterr().err


def test_module_entry_point_reports_a_missing_model_without_traceback(tmp_path):
    run = subprocess.run([sys.executable, "-m", "agent", "explain", "--model", str(tmp_path / "nomodel"), "hi"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "Traceback" not in run.stderr


@pytest.mark.slow
def test_end_to_end_with_real_classifier_index_and_gguf(tmp_path, capsys):
    from classifiers import TextClassifier, load_table

    table = load_table(REPO / "data" / "drugsComTrain.tsv")
    texts, labels = table.texts[:60], table.labels[:60]
    TextClassifier(method="head").fit(texts, labels).save_pretrained(tmp_path / "model")
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in zip(texts, labels, strict=True)))
    index = tmp_path / "index"
    assert main(["index", "--data", str(train), "--output", str(index), "--task",
                 str(REPO / "data" / "task_drugscom.json")]) == 0
    capsys.readouterr()
    assert main(["explain", "--model", str(tmp_path / "model"), "--index", str(index), "--json",
                 "This drug made my migraines disappear, no side effects."]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["final_label"] in {"positive", "negative", "neutral"}
    assert result["llm_verdict"] in {"agree", "disagree"} and len(result["neighbours"]) == 5
    assert result["evidence"]["words"] and "Final label" in result["explanation"]
