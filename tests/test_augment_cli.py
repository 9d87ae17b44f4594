"""``python -m augment`` through a subprocess: balance, refusal to overwrite, overlap warning, text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest_augment import REPO, small_frame

FAST = "char,keyboard,contraction"


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augment", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    small_frame().to_csv(path, index=False)
    return path


def test_balance_writes_a_balanced_file_and_prints_counts(train_csv: Path, tmp_path: Path) -> None:
    dev = tmp_path / "dev.csv"
    frame = small_frame()
    frame.iloc[[0, 9]].to_csv(dev, index=False)  # one post of each class leaks into dev
    out = tmp_path / "balanced.tsv"
    done = run("balance", "--input", str(train_csv), "--output", str(out), "--augmenters", FAST, "--seed", "4",
               "--dev", str(dev))
    assert done.returncode == 0, done.stderr
    assert "2 posts of the training file also appear in" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["label", "before", "target", "after", "change"]
    assert lines[1].split()[:4] == ["neg", "8", "8", "8"]
    assert lines[2].split()[:4] == ["pos", "3", "8", "8"] and "+5 augmented" in lines[2]
    written = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert written["label"].value_counts().to_dict() == {"neg": 8, "pos": 8}
    assert {"source_row", "is_augmented", "augmenters", "seed"} <= set(written.columns)
    assert not set(written["text"]) & set(frame.iloc[[0, 9]]["text"]) - set(frame["text"])
    for _, row in written[written["is_augmented"]].iterrows():
        assert frame.iloc[row["source_row"]]["id"] == row["id"]  # provenance points into the input file
    again = tmp_path / "again.tsv"
    run("balance", "--input", str(train_csv), "--output", str(again), "--augmenters", FAST, "--seed", "4")
    assert again.read_bytes() == out.read_bytes()  # same seed, same file


def test_balance_refuses_to_overwrite_its_input(train_csv: Path) -> None:
    before = train_csv.read_bytes()
    done = run("balance", "--input", str(train_csv), "--output", str(train_csv), "--augmenters", FAST)
    assert done.returncode == 2
    assert "refusing to overwrite the input file" in done.stderr and "Traceback" not in done.stderr
    assert train_csv.read_bytes() == before


def test_headerless_tsv_and_explicit_target(tmp_path: Path) -> None:
    source = tmp_path / "train.tsv"
    rows = small_frame()
    rows.assign(user=range(11))[["id", "user", "text", "label"]].to_csv(source, sep="\t", header=False, index=False)
    out = tmp_path / "out.csv"
    done = run("balance", "--input", str(source), "--output", str(out), "--text-column", "2", "--label-column", "3",
               "--target", "neg=5,pos=5", "--augmenters", FAST)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns)[:4] == ["column_0", "column_1", "text", "label"]
    new = written[written["is_augmented"]]
    assert list(new["column_0"]) == [rows.iloc[i]["id"] for i in new["source_row"]]
    assert written["label"].value_counts().to_dict() == {"neg": 5, "pos": 5}


def test_bad_arguments_give_clear_errors(train_csv: Path, tmp_path: Path) -> None:
    done = run("balance", "--input", str(train_csv), "--output", str(tmp_path / "o.csv"), "--target", "lots")
    assert done.returncode == 2 and "bad target 'lots'" in done.stderr and "Traceback" not in done.stderr
    done = run("balance", "--input", str(tmp_path / "missing.csv"), "--output", str(tmp_path / "o.csv"))
    assert done.returncode == 2 and "file not found" in done.stderr
    done = run("text", "a post", "--augmenters", "char,bogus")
    assert done.returncode == 2 and "unknown augmenter(s) ['bogus']" in done.stderr


def test_text_prints_variants() -> None:
    done = run("text", "I am not sure the masks work, @bob", "-n", "3", "--augmenters", FAST, "--show-augmenters")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("[") and "@bob" in line and "not" in line for line in lines)


def test_source_row_counts_rows_of_the_file_even_after_dropped_duplicates(tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    pd.DataFrame({"text": ["the weather is nice today", "the weather is nice today", "another ordinary update",
                           "I am sick and I do not feel well at all"],
                  "label": ["neg", "neg", "neg", "pos"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    done = run("balance", "--input", str(source), "--output", str(out), "--augmenters", FAST)
    assert done.returncode == 0, done.stderr
    assert "dropped 1 duplicate texts" in done.stderr
    written = pd.read_csv(out, keep_default_na=False)
    assert set(written[written["is_augmented"]]["source_row"]) == {3}
    assert list(written[~written["is_augmented"]]["source_row"]) == [0, 2, 3]
