"""``python -m classifiers train|evaluate|predict``: the command-line face of the classifier."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.baseline import TfidfBaseline
from classifiers.cli_options import add_data_options, column_arg
from classifiers.config import TrainingConfig
from classifiers.data import DataError, Table, label_counts, load_table, remove_leaks, validate
from classifiers.io import atomic_path, ensure_not_input
from classifiers.metrics import compute_metrics, format_table, plot_confusion
from classifiers.model import TextClassifier

BASELINE_FILE = "baseline.joblib"


def _load(path: str, args: argparse.Namespace, labels: Sequence[str] | None = None, require_labels: bool = True,
          drop_duplicates: bool = True) -> Table:
    table = load_table(path, text_column=column_arg(args.text_column), label_column=column_arg(args.label_column),
                       header=args.header, require_labels=require_labels)
    return validate(table, labels=labels, require_labels=require_labels, drop_invalid=args.drop_invalid,
                    drop_duplicates=drop_duplicates)


def _class_weight(value: str) -> Any:
    if value.lower() in {"none", "off", "no"}:
        return None
    if value == "balanced":
        return "balanced"
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--class-weight must be 'balanced', 'none' or numbers like 2,1,2; got {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifiers", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log training details")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a classifier on a labelled file")
    train.add_argument("--train", required=True, help="training file (CSV, TSV or JSONL)")
    train.add_argument("--dev", help="dev file for early stopping / threshold tuning (default: split from train)")
    train.add_argument("--test", help="held-out file to evaluate on after training (stored in the model card)")
    add_data_options(train)
    train.add_argument("--model", default="embedded", help="HF model id or local dir (default: embedded MiniLM)")
    train.add_argument("--method", choices=["head", "finetune"], default="head")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--seed", type=int, default=13)
    train.add_argument("--class-weight", type=_class_weight, default="balanced",
                       help="'balanced' (default), 'none', or one weight per sorted label, e.g. 2,1,2")
    train.add_argument("--loss", choices=["ce", "focal"], default="ce")
    train.add_argument("--max-length", type=int, default=256)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float, default=5e-5)
    train.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    train.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    train.add_argument("--features", choices=["embedding", "embedding+tfidf"], default="embedding+tfidf",
                       help="head method: features under the linear head")
    train.add_argument("--balance", metavar="SPEC",
                       help="augment + resample the training split first: max, N, label=N,..., or ratio:R")
    train.add_argument("--augmenters", default="char,keyboard,synonym,contraction",
                       help="with --balance: comma-separated augmenters for the minority classes")
    train.add_argument("--output", required=True, help="directory to write the trained model to")
    train.add_argument("--resume", action="store_true", help="finetune: resume from OUTPUT.checkpoint if present")

    evaluate = sub.add_parser("evaluate", help="evaluate a trained model on a labelled file")
    evaluate.add_argument("--model", required=True, help="trained model directory")
    evaluate.add_argument("--data", required=True)
    add_data_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--plot", help="write the confusion matrix as a PNG here")

    predict = sub.add_parser("predict", help="label every row of a file (streamed in chunks: any size, resumable)")
    predict.add_argument("--model", required=True, help="trained model directory")
    predict.add_argument("--data", required=True, help="CSV, TSV or JSONL file to score (never modified)")
    predict.add_argument("--output", required=True, help="CSV/TSV: the input rows plus predictions")
    predict.add_argument("--text-column")
    predict.add_argument("--no-header", dest="header", action="store_false", default=None)
    predict.add_argument("--engine", choices=["torch", "onnx", "ray"], default="torch",
                         help="torch (default); onnx: ONNX Runtime on the CPU (exported once into MODEL/onnx); "
                              "ray: Ray Data with one model copy per worker")
    predict.add_argument("--quantize", choices=["int8"], help="onnx (or ray with --ray-backend onnx): int8 weights")
    predict.add_argument("--precision", choices=["fp32", "bf16"],
                         help="torch: inference precision (default: the model's); bf16 is faster on CPUs with "
                              "native bf16 (AVX512-BF16, AMX) and agrees with fp32 on almost every post")
    predict.add_argument("--workers", type=int, default=2, help="ray: number of workers (model copies)")
    predict.add_argument("--ray-address", help="ray: cluster to join (auto, or ray://HEAD:10001); default: local Ray")
    predict.add_argument("--ray-backend", choices=["torch", "onnx"],
                         help="ray: the model engine inside each worker (default: onnx with --quantize, else torch)")
    predict.add_argument("--batch-size", type=int, default=256, help="ray: rows per model call in a worker")
    predict.add_argument("--chunk-size", type=int, default=8192, help="torch/onnx: rows per chunk (bounds memory)")
    predict.add_argument("--restart", action="store_true", help="ignore a partial output from an interrupted run")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    ensure_not_input(args.output, args.train, args.dev, args.test)
    train = _load(args.train, args)
    dev = _load(args.dev, args, labels=sorted(set(train.labels))) if args.dev else None
    test = _load(args.test, args, labels=sorted(set(train.labels))) if args.test else None
    for held_out in (dev, test):
        if held_out is not None:
            train = remove_leaks(train, held_out)
    if len(train) == 0:
        raise DataError(f"{args.train}: no training rows left after removing texts that also appear in dev/test")
    texts, labels = train.texts, train.labels
    print(f"training data: {len(texts)} posts, classes {label_counts(labels)}")
    if args.balance:
        held_out = [t for table in (dev, test) if table is not None for t in table.texts]
        texts, labels = _balance(train, args, held_out)
    config = TrainingConfig(
        method=args.method, model=args.model, epochs=args.epochs, seed=args.seed, class_weight=args.class_weight,
        loss=args.loss, max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.learning_rate,
        device=args.device, precision=args.precision, features=args.features,
    )
    model = TextClassifier(config)
    checkpoint = Path(str(args.output) + ".checkpoint") if args.method == "finetune" else None
    if checkpoint is not None and checkpoint.exists() and not args.resume:
        raise ValueError(f"{checkpoint} exists from an interrupted run: pass --resume to continue it, or delete it")
    model.fit(texts, labels, dev.texts if dev else None, dev.labels if dev else None, checkpoint_dir=checkpoint)
    baseline = TfidfBaseline(seed=args.seed).fit(texts, labels)
    reports = {}
    for name, table in (("dev", dev), ("test", test)):
        if table is not None:
            reports[name] = model.evaluate(table.texts, table.labels, progress=True)
            reports[f"{name}_baseline"] = compute_metrics(table.labels, baseline.predict(table.texts), model.labels,
                                                          model.positive_label)
    model.metrics = reports
    model.save_pretrained(args.output)
    _save_baseline(baseline, Path(args.output))
    if checkpoint is not None:
        import shutil

        shutil.rmtree(checkpoint, ignore_errors=True)
    print(f"saved {model!r} to {args.output} ({model.training_info['seconds']} s)")
    for name in ("dev", "test"):
        if name in reports:
            print(format_table(reports[name], f"== {name}: model"))
            print(format_table(reports[f"{name}_baseline"], f"== {name}: TF-IDF baseline"))
    return 0


def _balance(train: Table, args: argparse.Namespace, held_out: list[str]) -> tuple[list[str], list[str]]:
    """ALEX's augment-then-resample step, on the training split only; no variant may equal a dev/test text."""
    from augment import balance_table

    texts, labels = balance_table(train, args.balance, seed=args.seed, augmenters=args.augmenters,
                                  exclude_texts=held_out)
    print(f"balanced training data: {len(texts)} posts, classes {label_counts(labels)}")
    return texts, labels


def _save_baseline(baseline: TfidfBaseline, directory: Path) -> None:
    import joblib

    with atomic_path(directory / BASELINE_FILE) as tmp:
        joblib.dump(baseline, tmp)


def _load_baseline(directory: Path) -> TfidfBaseline | None:
    import joblib

    path = directory / BASELINE_FILE
    return joblib.load(path) if path.exists() else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = TextClassifier.from_pretrained(args.model)
    table = _load(args.data, args, labels=model.labels, drop_duplicates=False)
    result = {"model": model.evaluate(table.texts, table.labels, progress=not args.json)}
    baseline = _load_baseline(Path(args.model))
    if baseline is not None:
        result["baseline"] = compute_metrics(table.labels, baseline.predict(table.texts), model.labels,
                                             model.positive_label)
    if args.plot:
        plot_confusion(result["model"], args.plot, title=f"{Path(args.model).name} on {Path(args.data).name}")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result["model"], f"== {args.model} on {args.data}"))
        if "baseline" in result:
            print(format_table(result["baseline"], "== TF-IDF baseline (trained with the model)"))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Stream the file through the classifier (torch or ONNX Runtime), or hand the job to Ray Data."""
    from classifiers.scoring import check_input, load_scorer, score_file, truncation_counter

    ensure_not_input(args.output, args.data)
    check_input(Path(args.data))  # cheap checks first: a bad file is reported before a model is loaded
    if args.precision and args.engine != "torch":
        raise ValueError("--precision works with the torch engine only (the ONNX engine uses --quantize)")
    if args.engine == "ray":
        from classifiers.ray_engine import RaySettings, score_file_ray

        settings = RaySettings(workers=args.workers, batch_size=args.batch_size, address=args.ray_address,
                               engine=args.ray_backend or ("onnx" if args.quantize else "torch"),
                               quantize=args.quantize)
        report = score_file_ray(args.data, args.output, args.model, settings, text_column=column_arg(args.text_column),
                                header=args.header)
        where = f"Ray at {args.ray_address}" if args.ray_address else "a local Ray"
        print(f"wrote {report.rows} rows to {report.output} ({report.rows_per_second:.1f} posts/s on {where}, "
              f"{args.workers} workers, {settings.engine} engine)")
        return 0
    model = load_scorer(args.model, args.engine, quantize=args.quantize, precision=args.precision)
    report = score_file(args.data, args.output, model.predict_proba, model.labels, model.decide,
                        text_column=column_arg(args.text_column), header=args.header, chunksize=args.chunk_size,
                        resume=not args.restart, truncation_fn=truncation_counter(args.model),
                        fingerprint={"model": str(Path(args.model).resolve()), "engine": args.engine,
                                     "quantize": args.quantize, "precision": args.precision,
                                     "trained": (Path(args.model) / "classifier_config.json").stat().st_mtime_ns})
    resumed = f", resumed after {report.resumed_from} rows" if report.resumed_from else ""
    print(f"wrote {report.rows} rows to {report.output} ({report.rows_per_second:.1f} posts/s, "
          f"{args.engine} engine{resumed})")
    if report.truncated:
        print(f"note: {report.truncated} posts were longer than the model's {model.config.max_length}-token window "
              "and were truncated (the model read only their beginning)")
    return 0


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    warnings.formatwarning = _format_warning
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}
    try:
        return commands[args.command](args)
    except (DataError, ValueError, FileNotFoundError, ImportError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
