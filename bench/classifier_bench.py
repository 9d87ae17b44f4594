"""Classifier benchmark: TF-IDF baseline vs ``head`` vs ``finetune`` on SMM4H data, training time, and batched
inference throughput beside a naive per-post torch loop.

    python -m bench.classifier_bench [--datasets ../shared/datasets] [--quick] [--finetune-subset N]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import (
    RESULTS,
    default_datasets,
    load_train_eval,
    markdown_table,
    peak_rss_mib,
    percentiles,
    timed,
    write_report,
)
from classifiers import TextClassifier, TfidfBaseline, TrainingConfig, compute_metrics


@dataclass(frozen=True)
class Task:
    name: str
    train: str
    test: str
    metric: str


TASKS = (
    Task("smm4h21_task5_covid", "smm4h21_task5_covid/train.tsv", "smm4h21_task5_covid/valid.tsv", "positive_f1"),
    Task("smm4h22_task2_stance", "smm4h22_task2_stance/train.tsv", "smm4h22_task2_stance/validation.tsv", "micro_f1"),
)


def load_task(root: Path, task: Task) -> tuple[Any, Any]:
    return load_train_eval(root / task.train, root / task.test)


def score(labels_true, labels_pred, labels, positive) -> dict[str, float]:
    m = compute_metrics(labels_true, labels_pred, labels, positive)
    keys = ["micro_f1", "macro_f1"] + (["positive_f1"] if "positive_f1" in m else [])
    return {k: round(m[k], 4) for k in keys}


CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench_classifier"


def run_task(root: Path, task: Task, args: argparse.Namespace) -> tuple[list[dict], TextClassifier | None]:
    train, test = load_task(root, task)
    texts, labels = train.texts, train.labels
    if args.quick:
        rng = np.random.default_rng(0)
        keep = rng.permutation(len(texts))[: args.quick_train]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    rows = []
    baseline, seconds = timed(lambda: TfidfBaseline().fit(texts, labels))
    positive = "1" if task.name.endswith("covid") else None
    rows.append({"task": task.name, "method": "tfidf+logreg (baseline)", "train_size": len(texts),
                 "train_s": round(seconds, 1), **score(test.labels, baseline.predict(test.texts), baseline.labels, positive)})
    head, seconds = timed(lambda: TextClassifier(method="head", max_length=128).fit(texts, labels))
    rows.append({"task": task.name, "method": "head (MiniLM emb + TF-IDF, balanced LR)", "train_size": len(texts),
                 "train_s": round(seconds, 1), **score(test.labels, head.predict(test.texts), head.labels, positive)})
    finetuned = None
    if args.finetune_subset:
        rng = np.random.default_rng(1)
        keep = rng.permutation(len(texts))[: args.finetune_subset]
        sub_texts, sub_labels = [texts[i] for i in keep], [labels[i] for i in keep]
        config = TrainingConfig(method="finetune", max_length=96, epochs=args.finetune_epochs, dev_fraction=0.1)
        finetuned, seconds = timed(lambda: TextClassifier(config).fit(sub_texts, sub_labels))
        finetuned.save_pretrained(CACHE / task.name)  # kept for --inference-only reruns
        device = finetuned._backend.device
        rows.append({"task": task.name, "method": f"finetune ({args.finetune_epochs} ep, {device}, "
                     f"{finetuned._backend.precision.name})", "train_size": len(sub_texts), "train_s": round(seconds, 1),
                     **score(test.labels, finetuned.predict(test.texts), finetuned.labels, positive)})
    return rows, finetuned


def naive_loop(model: TextClassifier, texts: list[str]) -> float:
    """What notebook code does: one post at a time, no batching, no inference mode. Returns posts/s."""
    backend = model._backend
    start = time.perf_counter()
    with torch.no_grad():
        for text in texts:
            enc = backend.tokenizer(text, truncation=True, max_length=model.config.max_length, return_tensors="pt")
            torch.softmax(backend.model(**enc).logits, -1)
    return len(texts) / (time.perf_counter() - start)


def posts_per_second(model: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    model.predict_proba(texts[:16])  # warm-up (and the ONNX session's first run)
    proba, seconds = timed(lambda: model.predict_proba(texts))
    return len(texts) / seconds, np.asarray(proba)


def throughput(model_dir: Path, texts: list[str]) -> dict[str, Any]:
    """Batched fp32 (the default path) against the naive loop in the same run, then the faster options a user
    can choose, each with its label agreement with fp32: bf16 autocast (torch) and ONNX Runtime fp32 / int8."""
    from classifiers.onnx_backend import OnnxClassifier

    model = TextClassifier.from_pretrained(model_dir)
    batched, reference = posts_per_second(model, texts)
    naive = naive_loop(model, texts)
    singles = []
    for text in texts[:100]:
        _, seconds = timed(lambda text=text: model.predict_proba(text))
        singles.append(seconds)
    report: dict[str, Any] = {
        "posts": len(texts), "batched_posts_per_s": round(batched, 1), "naive_loop_posts_per_s": round(naive, 1),
        "speedup": round(batched / naive, 2), "single_post": percentiles(singles), "options": []}
    options = [("torch bf16 autocast (--precision bf16)", lambda: TextClassifier.from_pretrained(model_dir, precision="bf16")),
               ("onnx fp32 (--engine onnx)", lambda: OnnxClassifier.from_pretrained(model_dir)),
               ("onnx int8 (--engine onnx --quantize int8)", lambda: OnnxClassifier.from_pretrained(model_dir, quantize="int8"))]
    for name, load in options:
        rate, proba = posts_per_second(load(), texts)
        report["options"].append({"engine": name, "posts_per_s": round(rate, 1), "vs_naive": round(rate / naive, 2),
                                  "label_agreement_with_fp32": round(float(np.mean(proba.argmax(1) == reference.argmax(1))), 4)})
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=default_datasets())
    parser.add_argument("--quick", action="store_true", help="train on a 1,500-post sample of each task")
    parser.add_argument("--quick-train", type=int, default=1500)
    parser.add_argument("--finetune-subset", type=int, default=None,
                        help="posts to fine-tune on (default: all on CUDA, 1,000 on CPU, 400 with --quick)")
    parser.add_argument("--finetune-epochs", type=int, default=None)
    parser.add_argument("--inference-only", type=Path, metavar="MODEL_DIR",
                        help="only re-measure inference speed with this fine-tuned model (e.g. the one the last full "
                             "run kept in .cache/bench_classifier/smm4h21_task5_covid); keeps the quality rows")
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        parser.error(f"datasets folder not found: {args.datasets}")
    if args.inference_only:
        return inference_only(args)
    cuda = torch.cuda.is_available()
    if args.finetune_subset is None:
        args.finetune_subset = 10**9 if cuda else (400 if args.quick else 1000)
    if args.finetune_epochs is None:
        args.finetune_epochs = 3 if cuda else 1
    rows, speed = [], {}
    for task in TASKS:
        task_rows, finetuned = run_task(args.datasets, task, args)
        rows.extend(task_rows)
        print(markdown_table(task_rows, ["task", "method", "train_size", "train_s", "positive_f1", "micro_f1", "macro_f1"]),
              flush=True)
        if finetuned is not None and not speed:
            _, test = load_task(args.datasets, task)
            speed = throughput(CACHE / task.name, test.texts)
            print_speed(speed)
    path = write_report("classifier", {"quality": rows, "inference": speed, "peak_rss_mib": peak_rss_mib(),
                                       "settings": {k: v for k, v in vars(args).items() if k != "datasets"}})
    print(f"wrote {path}")
    return 0


def print_speed(speed: dict[str, Any]) -> None:
    print(f"inference on {speed['posts']} posts: batched {speed['batched_posts_per_s']} posts/s, naive loop "
          f"{speed['naive_loop_posts_per_s']} posts/s ({speed['speedup']}x); single post {speed['single_post']}")
    print(markdown_table(speed["options"], ["engine", "posts_per_s", "vs_naive", "label_agreement_with_fp32"]),
          flush=True)


def inference_only(args: argparse.Namespace) -> int:
    path = RESULTS / "classifier.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    _, test = load_task(args.datasets, TASKS[0])
    speed = throughput(args.inference_only, test.texts)
    speed["model"] = str(args.inference_only)
    print_speed(speed)
    report = {key: previous[key] for key in ("quality", "settings", "quality_date") if key in previous}
    report.setdefault("quality_date", previous.get("date"))
    written = write_report("classifier", {**report, "inference": speed, "peak_rss_mib": peak_rss_mib()})
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
