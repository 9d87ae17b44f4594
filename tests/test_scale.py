"""Streaming scoring: bounded memory, throughput in the progress bar, resume without duplicates, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classifiers.data import DataError
from classifiers.scoring import score_file, truncation_counter
from tests.conftest_scale import REPO, constant_proba, decide_ab, posts_frame, tiny_model

# VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's RSS (pytest's, with models loaded).
PEAK_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np, pandas as pd
    from classifiers.scoring import score_file
    from tests.conftest_scale import constant_proba, decide_ab
    rows, data, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(data, "w") as handle:
        handle.write("id,text\\n")
        for start in range(0, rows, 50_000):
            handle.write("".join(f"{i},post number {i} with some words in it\\n"
                                 for i in range(start, min(rows, start + 50_000))))
    def peak_kib():
        return int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
    before = peak_kib()
    report = score_file(data, out, constant_proba, ["a", "b"], decide_ab, chunksize=2000, progress=False)
    print(report.rows, before, peak_kib())
""")


def _peak_kib(tmp_path, rows: int) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(rows), str(tmp_path / f"in{rows}.csv"),
                          str(tmp_path / f"out{rows}.csv")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    done, before, peak = map(int, out.stdout.split())
    assert done == rows
    return before, peak


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak memory")
def test_memory_stays_bounded_as_the_file_grows(tmp_path):
    """Ten times the rows (a 9 MB file, 100 chunks) must not raise peak memory by more than a chunk's worth."""
    small_before, small_peak = _peak_kib(tmp_path, 20_000)
    large_before, large_peak = _peak_kib(tmp_path, 200_000)
    growth_mib = ((large_peak - large_before) - (small_peak - small_before)) / 1024
    assert (tmp_path / "in200000.csv").stat().st_size > 7e6
    assert growth_mib < 20, f"peak memory grew by {growth_mib:.1f} MiB for 10x the rows"
    frame = pd.read_csv(tmp_path / "out200000.csv", usecols=["id"])
    assert len(frame) == 200_000 and frame.id.iloc[-1] == 199_999


def test_progress_bar_shows_throughput(tmp_path, capsys):
    data = tmp_path / "posts.csv"
    posts_frame(50).to_csv(data, index=False)
    score_file(data, tmp_path / "out.csv", constant_proba, ["a", "b"], decide_ab, chunksize=10)
    err = capsys.readouterr().err
    assert "scoring" in err and "posts/s" in err and "50/50" in err


def test_crash_between_append_and_progress_does_not_duplicate_rows(tmp_path, monkeypatch):
    import classifiers.scoring as scoring

    data = tmp_path / "posts.csv"
    pd.DataFrame({"text": [f"post {i}" for i in range(35)]}).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    original, calls = scoring._save_progress, []

    def dies_on_third(path, state):
        calls.append(state["rows"])
        if len(calls) == 3:
            raise KeyboardInterrupt  # chunk 3 is on disk, its progress record is not
        original(path, state)

    monkeypatch.setattr(scoring, "_save_progress", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        score_file(data, out, constant_proba, ["a", "b"], decide_ab, chunksize=10, progress=False)
    assert not out.exists()
    monkeypatch.setattr(scoring, "_save_progress", original)
    report = score_file(data, out, constant_proba, ["a", "b"], decide_ab, chunksize=10, progress=False)
    assert report.resumed_from == 20 and report.rows == 35
    assert pd.read_csv(out).text.tolist() == [f"post {i}" for i in range(35)]
    assert not (tmp_path / "scored.csv.partial").exists() and not (tmp_path / "scored.csv.progress.json").exists()


def test_a_partial_output_of_another_job_is_not_resumed(tmp_path):
    data = tmp_path / "posts.csv"
    pd.DataFrame({"text": [f"post {i}" for i in range(12)]}).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    (tmp_path / "scored.csv.partial").write_text("text,predicted_label\nstale,x\n")
    (tmp_path / "scored.csv.progress.json").write_text(json.dumps({"version": 2, "job": "other", "rows": 1,
                                                                   "bytes": 10}))
    with pytest.warns(UserWarning, match="another or a damaged run"):
        report = score_file(data, out, constant_proba, ["a", "b"], decide_ab, chunksize=5, progress=False)
    assert report.resumed_from == 0 and "stale" not in out.read_text()


def test_resume_needs_the_same_model_fingerprint(tmp_path):
    data = tmp_path / "posts.csv"
    pd.DataFrame({"text": [f"post {i}" for i in range(30)]}).to_csv(data, index=False)
    out = tmp_path / "scored.csv"
    calls = []

    def interrupted(texts):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return constant_proba(texts)

    with pytest.raises(KeyboardInterrupt):
        score_file(data, out, interrupted, ["a", "b"], decide_ab, chunksize=10, fingerprint={"model": "A"},
                   progress=False)
    with pytest.warns(UserWarning):
        report = score_file(data, out, constant_proba, ["a", "b"], decide_ab, chunksize=10,
                            fingerprint={"model": "B"}, progress=False)
    assert report.resumed_from == 0 and report.rows == 30


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty"),
    (b"   \n\n", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
])
def test_unusable_files_are_refused_by_name(tmp_path, content, message):
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        score_file(data, tmp_path / "out.csv", constant_proba, ["a", "b"], decide_ab, progress=False)
    assert str(data) in str(info.value)
    assert data.read_bytes() == content


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        score_file(tmp_path, tmp_path / "out.csv", constant_proba, ["a", "b"], decide_ab, progress=False)
    with pytest.raises(DataError, match="file not found"):
        score_file(tmp_path / "nope.csv", tmp_path / "out.csv", constant_proba, ["a", "b"], decide_ab)


def test_ragged_csv_names_the_file(tmp_path):
    data = tmp_path / "ragged.csv"
    data.write_text("id,text\n1,ok\n2,too,many,fields\n")
    with pytest.raises(DataError, match="ragged.csv: cannot read it as a table"):
        score_file(data, tmp_path / "out.csv", constant_proba, ["a", "b"], decide_ab, progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_truncation_is_counted(tiny_bert, toy_posts, tmp_path_factory):
    model_dir = tiny_model("head", tiny_bert, toy_posts, tmp_path_factory.mktemp("scale-models"))
    count = truncation_counter(model_dir)
    assert count(["short", "word " * 30, "word " * 40, "x " * 5000]) == 2
    assert count([]) == 0


def test_tsv_output_and_probabilities(tmp_path):
    data = tmp_path / "posts.tsv"
    pd.DataFrame({"post": ["a", "a longer post here that goes on and on and on"]}).to_csv(data, sep="\t", index=False)
    out = tmp_path / "out.tsv"
    score_file(data, out, constant_proba, ["a", "b"], decide_ab, progress=False)
    frame = pd.read_csv(out, sep="\t")
    assert frame.predicted_label.tolist() == ["a", "b"]
    np.testing.assert_allclose(frame.proba_a + frame.proba_b, 1.0, atol=2e-6)


# --- python -m bench: runner and report ------------------------------------------------------------------------

def test_bench_report_renders_any_results_and_replaces_only_the_readme_block(tmp_path):
    from bench.report import END, START, RunRecord, load_results, render, update_readme

    results = tmp_path / "results"
    results.mkdir()
    (results / "scale.json").write_text(json.dumps({
        "benchmark": "scale", "date": "today", "machine": {"device": "cpu"},
        "stream_full": {"rows": 1_000_000, "peak_rss_mib": 512.25},
        "quality": [{"engine": "torch", "positive_f1": 0.61234}, {"engine": "onnx", "positive_f1": 0.61234}],
    }))
    (results / "broken.json").write_text("{not json")
    loaded = load_results(results)
    text = render(loaded, [RunRecord(name="scale", module="bench.scale_bench", args=("--quick",), budget_s=150,
                                     seconds=97.5, status="ok")],
                  machine={"cpu": "Test CPU", "cores": 2, "memory_gib": 4, "device": "cpu"}, mode="quick")
    assert "Test CPU, 2 cores, 4 GiB RAM, device **cpu**" in text
    assert "| scale | python -m bench.scale_bench --quick | 150 | 97.5 | ok | cpu |" in text
    assert "| torch | 0.6123 |" in text and "| stream_full.rows | 1000000 |" in text
    assert "unreadable results file" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert update_readme("NEW", readme)
    assert readme.read_text() == f"intro\n{START}\nNEW\n{END}\noutro\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not update_readme("NEW", plain) and plain.read_text() == "no markers\n"


SLEEPY = '''
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
time.sleep(120)
'''


def test_bench_quick_budget_stops_a_benchmark_and_its_children(tmp_path, monkeypatch):
    import os

    from bench.__main__ import Benchmark, run_one, select

    (tmp_path / "sleepy_bench.py").write_text(SLEEPY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    bench = Benchmark(name="sleepy", module="sleepy_bench", quick_budget_s=3, quick_args=("--small",))
    assert bench.command(quick=True)[-1] == "--small" and bench.command(quick=False)[-1] == "sleepy_bench"
    record = run_one(bench, quick=True, deadline=None)
    assert record.status == "stopped at its 3 s budget" and record.seconds < 30
    leftovers = subprocess.run(["pgrep", "-f", "import time; time.sleep(120)"], capture_output=True, text=True)
    assert str(os.getpid()) not in leftovers.stdout and leftovers.stdout.strip() == ""
    missing = run_one(Benchmark(name="x", module="bench.no_such_bench", quick_budget_s=5), quick=True, deadline=None)
    assert missing.status == "skipped: module not present"
    with pytest.raises(SystemExit, match="unknown benchmark"):
        select("scale,nope")
    assert [b.name for b in select("scale")] == ["scale"]
