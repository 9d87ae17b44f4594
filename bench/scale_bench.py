"""Scale benchmark: streaming a very large CSV with bounded memory, ONNX Runtime (fp32, int8) against torch, and
Ray Data with 2 local workers against one process.

Three kinds of figures, kept apart in the report:

* ``stream_full``: every row of a synthetic CSV (1,000,000 rows; 200,000 with ``--quick``) through the real
  streaming machinery (``classifiers.scoring.score_file``: chunked reading, appending, progress, atomic rename)
  with a cheap stand-in classifier (hashed bag of words + logistic regression trained on the task's training
  split), in a subprocess whose peak RSS is measured. It shows memory stays bounded over the whole file; its
  throughput is the stand-in's, not the transformer's.
* ``slice``: the first rows of the same file (20,000; 500 with ``--quick``) scored by the real fine-tuned
  MiniLM through ``python -m classifiers predict`` with ``--engine torch``, ``onnx`` and ``onnx --quantize
  int8`` (throughput and peak RSS of that process) and ``--engine ray --workers 2`` (wall time).
* ``quality``: positive-class F1 of torch, ONNX fp32 and ONNX int8 on smm4h21_task5_covid/valid.tsv, their
  agreement and largest probability difference, and their in-process throughput on the same posts.

    python -m bench.scale_bench [--quick] [--model DIR] [--rows N] [--slice N] [--datasets DIR] [--workdir DIR]

Without ``--model`` a MiniLM is fine-tuned first on a subset of the task (1 epoch) with
``python -m classifiers train --method finetune`` (``--quick``: the ``head`` method on 500 posts, seconds). The synthetic CSV lives in a temporary folder, never in the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, RESULTS, default_datasets, markdown_table, write_report
from classifiers.io import atomic_path

TASK_TRAIN = "smm4h21_task5_covid/train.tsv"
TASK_VALID = "smm4h21_task5_covid/valid.tsv"
TEMPLATES = (
    "just got my {w} results back, {w} and {w} all day #covid",
    "anyone else feel {w} after the {w}? day {n} of quarantine",
    "my {w} tested positive, we are all {w} at home now",
    "{w} {w} news about the vaccine rollout in {w}",
    "stay home, wash your hands, {w} is not over yet #{w}",
    "lost my sense of {w} and {w}, waiting for a test",
    "lockdown day {n}: baked {w}, watched {w}, still {w}",
    "the {w} at the {w} refused to wear masks smh",
)
WORDS = ("fever", "cough", "taste", "smell", "mom", "dad", "sister", "roommate", "tired", "bored", "banana bread",
         "netflix", "pharmacy", "hospital", "clinic", "store", "scary", "good", "weird", "headache", "chills",
         "Texas", "Ohio", "London", "Toronto", "symptoms", "test", "isolation", "booster", "mask", "bus", "office")


@dataclass(frozen=True, kw_only=True)
class Budget:
    """How much each part does; ``--quick`` shrinks all of them to fit the 10-minute ``python -m bench --quick``."""

    rows: int
    slice_rows: int
    ray_rows: int
    train_posts: int
    max_length: int
    method: str = "finetune"
    chunk_size: int = 8192

    def __post_init__(self) -> None:
        if min(self.rows, self.slice_rows, self.ray_rows, self.train_posts) < 1:
            raise ValueError("every budget must be positive")
        if self.slice_rows > self.rows or self.ray_rows > self.rows:
            raise ValueError("the slices cannot be larger than the file")
        if self.method not in ("finetune", "head"):
            raise ValueError(f"method must be finetune or head, not {self.method!r}")


FULL = Budget(rows=1_000_000, slice_rows=20_000, ray_rows=5_000, train_posts=1_500, max_length=128)
# Quick mode trains the frozen-encoder head (seconds) instead of fine-tuning (minutes on 2 busy cores); the ONNX
# comparison is then the encoder graph + the same sklearn head against the torch encoder + that head.
QUICK = Budget(rows=200_000, slice_rows=500, ray_rows=500, train_posts=500, max_length=64, method="head")


def synthetic_csv(path: Path, rows: int, *, seed: int = 0, block: int = 50_000) -> Path:
    """``rows`` tweet-like posts from templates and random words, written block by block (never all in memory)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            templates = rng.integers(len(TEMPLATES), size=n)
            words = rng.integers(len(WORDS), size=(n, 3))
            days = rng.integers(1, 400, size=n)
            texts = [_fill(TEMPLATES[t], [WORDS[i] for i in w], d) for t, w, d in zip(templates, words, days, strict=True)]
            frame = pd.DataFrame({"id": np.arange(start, start + n), "tweet": texts})
            frame.to_csv(handle, index=False, header=start == 0)
    return path


def _fill(template: str, words: list[str], day: int) -> str:
    parts = iter(words)
    return re.sub(r"\{w\}", lambda _: next(parts, "covid"), template).replace("{n}", str(day))


def head_of_csv(source: Path, target: Path, rows: int) -> Path:
    """The first ``rows`` data rows of a CSV, streamed."""
    import pandas as pd

    with atomic_path(target) as tmp:
        next(pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=rows)).to_csv(tmp, index=False)
    return target


# A tiny launcher measures the command's peak RSS with wait4. Measuring from this process would not do: on
# Linux a child's ru_maxrss starts at its parent's RSS at fork, and this process holds models (a GiB or so).
LAUNCHER = ("import os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[2:])\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n")


def measured(cmd: list[str], *, timeout: float = 3600) -> dict[str, Any]:
    """Run a command; its wall time, output, and peak RSS (of that process alone, not its Ray workers)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        try:
            done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(peak_file), *cmd], cwd=REPO, env=env,
                                  capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(cmd[:6])} ... did not finish in {timeout:.0f} s") from None
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({done.returncode}):\n{text[-3000:]}")
    return {"wall_s": round(time.perf_counter() - start, 1), "peak_rss_mib": round(peak_kib / 1024, 1),
            "output": text}


def train_model(datasets: Path, workdir: Path, budget: Budget) -> Path:
    """Fine-tune the embedded MiniLM for 1 epoch (or fit the head, in quick mode) on a subset of the task."""
    from classifiers import load_table, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = validate(load_table(datasets / TASK_TRAIN), drop_invalid=True)
    rng = np.random.default_rng(13)
    keep = np.sort(rng.permutation(len(train))[: budget.train_posts])
    subset = workdir / "train-subset.csv"
    import pandas as pd

    pd.DataFrame({"tweet": [train.texts[i] for i in keep], "label": [train.labels[i] for i in keep]}).to_csv(
        subset, index=False)
    model = workdir / f"covid-{budget.method}"
    run = measured([sys.executable, "-m", "classifiers", "train", "--train", str(subset), "--method", budget.method,
                    "--epochs", "1", "--max-length", str(budget.max_length), "--output", str(model)])
    print(f"trained {model} ({budget.method}) on {len(keep)} posts in {run['wall_s']} s", flush=True)
    return model


def fit_stand_in(datasets: Path, workdir: Path) -> Path:
    """The cheap stand-in for the full-file run: hashed word 1-2 grams under a logistic regression."""
    import joblib
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from classifiers import load_table, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = validate(load_table(datasets / TASK_TRAIN), drop_invalid=True)
    pipeline = make_pipeline(HashingVectorizer(n_features=2**18, ngram_range=(1, 2), alternate_sign=False),
                             LogisticRegression(max_iter=1000, class_weight="balanced", random_state=0))
    pipeline.fit(train.texts, train.labels)
    path = workdir / "stand-in.joblib"
    with atomic_path(path) as tmp:
        joblib.dump(pipeline, tmp)
    return path


def stream_job(stand_in: str, data: str, output: str, chunk_size: int) -> None:
    """Runs in the measured subprocess: the full file through ``score_file`` with the stand-in classifier."""
    import joblib

    from classifiers.scoring import score_file

    pipeline = joblib.load(stand_in)
    labels = [str(c) for c in pipeline.classes_]
    report = score_file(data, output, pipeline.predict_proba, labels, lambda p: [labels[i] for i in p.argmax(1)],
                        chunksize=chunk_size, progress=False)
    print(json.dumps({"rows": report.rows, "seconds": round(report.seconds, 1),
                      "rows_per_s": round(report.rows_per_second, 1)}))


def _posts_per_s(output: str) -> float | None:
    found = re.search(r"\(([\d.]+) posts/s", output)
    return float(found.group(1)) if found else None


def run_slice(model: Path, data: Path, workdir: Path, budget: Budget) -> list[dict[str, Any]]:
    """The real model on the slice, one ``python -m classifiers predict`` per engine."""
    from classifiers.onnx_backend import export_onnx

    export_onnx(model)
    export_onnx(model, quantize="int8")  # exported once beforehand: the runs below time inference only
    rows = []
    variants = [("torch", []), ("onnx", ["--engine", "onnx"]), ("onnx int8", ["--engine", "onnx", "--quantize", "int8"])]
    outputs = {}
    for name, flags in variants:
        out = workdir / f"slice-{name.replace(' ', '-')}.csv"
        run = measured([sys.executable, "-m", "classifiers", "predict", "--model", str(model), "--data", str(data),
                        "--output", str(out), *flags])
        outputs[name] = out
        rows.append({"engine": name, "rows": budget.slice_rows, "wall_s": run["wall_s"],
                     "posts_per_s": _posts_per_s(run["output"]), "peak_rss_mib": run["peak_rss_mib"]})
        print(f"slice {name}: {rows[-1]}", flush=True)
    agreement = _agreement(outputs["torch"], outputs)
    for row in rows:
        row["labels_equal_torch"] = agreement[row["engine"]]
    return rows


def _agreement(reference: Path, outputs: dict[str, Path]) -> dict[str, float]:
    import pandas as pd

    base = pd.read_csv(reference, dtype=str, keep_default_na=False).predicted_label
    return {name: round(float((pd.read_csv(path, dtype=str, keep_default_na=False).predicted_label == base).mean()), 5)
            for name, path in outputs.items()}


def run_ray(model: Path, data: Path, workdir: Path, rows: int) -> dict[str, Any]:
    """Ray Data with 2 local workers (1 CPU each) against one process (all cores) on the same rows."""
    outputs, result = {}, {"rows": rows}
    for name, flags in (("single process (torch)", []), ("ray, 2 local workers (torch)",
                                                         ["--engine", "ray", "--workers", "2"])):
        out = workdir / f"ray-{len(outputs)}.csv"
        run = measured([sys.executable, "-m", "classifiers", "predict", "--model", str(model), "--data", str(data),
                        "--output", str(out), *flags])
        outputs[name] = out
        result[name] = {"wall_s": run["wall_s"], "posts_per_s": _posts_per_s(run["output"])}
        print(f"{name}: {result[name]}", flush=True)
    import pandas as pd

    first, second = (pd.read_csv(path, dtype=str, keep_default_na=False) for path in outputs.values())
    result["same_row_order"] = first.id.tolist() == second.id.tolist()
    result["identical_labels"] = first.predicted_label.tolist() == second.predicted_label.tolist()
    # Batches differ between the two (length-sorted per chunk vs per Ray batch), so float sums may differ in
    # the last digit: the 6-decimal probabilities can differ by 1e-6 on a few rows.
    columns = [c for c in first.columns if c.startswith("proba_")]
    result["max_abs_proba_diff"] = float(np.abs(first[columns].astype(float).to_numpy()
                                                - second[columns].astype(float).to_numpy()).max())
    return result


def run_quality(model: Path, datasets: Path) -> list[dict[str, Any]]:
    """F1 on the task's validation split for torch, ONNX fp32 and ONNX int8, with in-process throughput."""
    from classifiers import TextClassifier, compute_metrics, load_table, validate
    from classifiers.onnx_backend import OnnxClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid = validate(load_table(datasets / TASK_VALID), drop_invalid=True, drop_duplicates=False)
    texts, gold = valid.texts, valid.labels
    variants = {"torch": lambda: TextClassifier.from_pretrained(model),
                "onnx": lambda: OnnxClassifier.from_pretrained(model),
                "onnx int8": lambda: OnnxClassifier.from_pretrained(model, quantize="int8")}
    rows, reference = [], None
    for name, load in variants.items():
        classifier = load()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the truncation note, once per engine
            classifier.predict_proba(texts[:32])  # warm-up
            start = time.perf_counter()
            proba = classifier.predict_proba(texts)
            seconds = time.perf_counter() - start
        predicted = classifier.decide(proba)
        reference = reference if reference is not None else (proba, predicted)
        metrics = compute_metrics(gold, predicted, classifier.labels, classifier.positive_label)
        rows.append({"engine": name, "n": len(texts), "positive_f1": round(metrics["positive_f1"], 4),
                     "macro_f1": round(metrics["macro_f1"], 4), "posts_per_s": round(len(texts) / seconds, 1),
                     "label_agreement_with_torch": round(float(np.mean([a == b for a, b in zip(predicted, reference[1], strict=True)])), 4),
                     "max_abs_proba_diff": float(np.abs(proba - reference[0]).max())})
        print(f"quality {name}: {rows[-1]}", flush=True)
    torch_row = rows[0]
    for row in rows:
        row["f1_delta_vs_torch"] = round(row["positive_f1"] - torch_row["positive_f1"], 4)
        row["speedup_vs_torch"] = round(row["posts_per_s"] / torch_row["posts_per_s"], 2)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="200k-row file, 500-row slices, head model on 500 posts (about 2 minutes on 2 idle cores)")
    parser.add_argument("--datasets", type=Path, default=default_datasets())
    parser.add_argument("--model", type=Path, help="a fine-tuned model directory (default: fine-tune one first)")
    parser.add_argument("--rows", type=int, help="rows in the synthetic file (default 1,000,000; quick 200,000)")
    parser.add_argument("--slice", type=int, help="rows scored by the real model (default 20,000; quick 500)")
    parser.add_argument("--ray-rows", type=int, help="rows for the Ray comparison (default 5,000; quick 500)")
    parser.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temporary folder)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--stream-job", nargs=4, metavar=("STAND_IN", "DATA", "OUTPUT", "CHUNK"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stream_job:
        stand_in, data, output, chunk = args.stream_job
        stream_job(stand_in, data, output, int(chunk))
        return 0
    if not args.datasets.is_dir():
        print(f"error: datasets folder not found: {args.datasets} (set SHARED_DATASETS)", file=sys.stderr)
        return 2
    base = QUICK if args.quick else FULL
    budget = Budget(**{**asdict(base), **{k: v for k, v in (("rows", args.rows), ("slice_rows", args.slice),
                                                           ("ray_rows", args.ray_rows)) if v}})
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_all(args, budget, workdir)
    path = RESULTS / "scale.json"
    print(markdown_table(report["quality"], ["engine", "positive_f1", "f1_delta_vs_torch", "posts_per_s",
                                             "speedup_vs_torch", "label_agreement_with_torch"]))
    print(f"wrote {path}")
    return 0


def run_all(args: argparse.Namespace, budget: Budget, workdir: Path) -> dict[str, Any]:
    """Each stage adds to the report, which is written after every stage: a run stopped at its time budget
    (``python -m bench --quick``) still leaves the figures it has."""
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    report: dict[str, Any] = {"complete": False, "budget": asdict(budget)}

    def stage(key: str, value: Any) -> None:
        report[key] = value
        report["seconds"] = round(time.perf_counter() - started, 1)
        # Other work on the machine slows torch most (its threads spin); the load average says how busy it was.
        report["load_average_1m"] = {"start": round(load_before, 1), "end": round(os.getloadavg()[0], 1)}
        write_report("scale", report)

    data = synthetic_csv(workdir / "synthetic.csv", budget.rows)
    stage("stream_full", run_stream(args.datasets, data, workdir, budget))
    model = args.model or train_model(args.datasets, workdir, budget)
    trained = ("fine-tuned 1 epoch" if budget.method == "finetune" else "frozen, under the head (TF-IDF + LR)")
    report["model"] = str(args.model) if args.model else (
        f"embedded MiniLM {trained} on {budget.train_posts} posts of {TASK_TRAIN} (max_length {budget.max_length})")
    stage("quality", run_quality(model, args.datasets))
    stage("slice", run_slice(model, head_of_csv(data, workdir / "slice.csv", budget.slice_rows), workdir, budget))
    if not args.skip_ray:
        stage("ray", run_ray(model, head_of_csv(data, workdir / "ray.csv", budget.ray_rows), workdir, budget.ray_rows))
    stage("complete", True)
    return report


def run_stream(datasets: Path, data: Path, workdir: Path, budget: Budget) -> dict[str, Any]:
    """Every row of the synthetic file through ``score_file`` with the stand-in, in a measured subprocess."""
    stand_in = fit_stand_in(datasets, workdir)
    output = workdir / "scored-full.csv"
    run = measured([sys.executable, "-m", "bench.scale_bench", "--stream-job", str(stand_in), str(data), str(output),
                    str(budget.chunk_size)])
    output.unlink(missing_ok=True)
    stream = {"rows": budget.rows, "file_mib": round(data.stat().st_size / 2**20, 1), "wall_s": run["wall_s"],
              "peak_rss_mib": run["peak_rss_mib"], "chunk_size": budget.chunk_size,
              "classifier": "stand-in: hashed word 1-2 grams + logistic regression (not the transformer)",
              **json.loads(run["output"].strip().splitlines()[-1])}
    print(f"stream_full: {stream}", flush=True)
    return stream


if __name__ == "__main__":
    raise SystemExit(main())
