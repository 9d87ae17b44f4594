"""Augmentation benchmark: throughput of each augmenter and the composite flow on real tweets, beside stock
nlpaug, and the ablation that justifies the feature (raw / class weights / augmentation+balancing / both).

    python -m bench.augment_bench --datasets ../shared/datasets [--classifier head|tfidf|both]
                                  [--skip-throughput] [--skip-ablation] [--posts 1000]

The ablation trains the same classifier four ways on each task's training file (same seed), and scores
it on the task's validation file: positive-class F1 for the binary COVID task, micro-F1 for stance.
Decision-threshold tuning is off in every arm, so class weights and augmentation are the only levers.
"""

from __future__ import annotations

import argparse
import functools
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment import Augmenter, balance_report
from augment.pipeline import FACTORIES
from augment.wordnet import load_lexicon
from bench.common import default_datasets, load_train_eval, markdown_table, peak_rss_mib, timed, write_report

TASK_TARGET = "task"
ARMS = (  # (name, class weights, balancing target: None = raw data, TASK_TARGET = the task's target)
    ("a: raw", None, None),
    ("b: class weights", "balanced", None),
    ("c: augment + balance", None, TASK_TARGET),
    ("d: both", "balanced", TASK_TARGET),
    # With a full balance, "balanced" weights are all 1 and (d) equals (c); this arm shows whether
    # augmentation adds anything on top of class weights when it only halves the imbalance.
    ("e: augment to ratio:0.5 + class weights", "balanced", "ratio:0.5"),
    # Context: the same class sizes as (c) by duplicating minority posts instead of augmenting them.
    ("f: random over-sampling (duplicates)", None, "oversample"),
)


@dataclass(frozen=True)
class Task:
    name: str
    train: str
    valid: str
    metric: str  # positive_f1 (binary SMM4H) or micro_f1 (3-class stance, as SMM4H Task 2)
    target: str  # balancing target: up to the largest class, or ALEX's 2,000 per class for Task 2


TASKS = (
    Task("smm4h21_task5_covid", "smm4h21_task5_covid/train.tsv", "smm4h21_task5_covid/valid.tsv", "positive_f1", "max"),
    Task("smm4h22_task2_stance", "smm4h22_task2_stance/train.tsv", "smm4h22_task2_stance/validation.tsv",
         "micro_f1", "2000"),
)


def real_tweets(root: Path, count: int) -> list[str]:
    from classifiers.data import load_table, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = validate(load_table(root / TASKS[0].train), drop_invalid=True)
    return table.texts[:count]


def rate(fn: Callable[[], Any], posts: int) -> int:
    _, seconds = timed(fn)
    return round(posts / seconds)


def ours(texts: list[str]) -> list[dict[str, Any]]:
    """Each augmenter alone and the default composite: cold (first pass, WordNet lookups) and warm."""
    rows = []
    _, load_s = timed(load_lexicon)
    for names in [[n] for n in FACTORIES] + [None]:
        engine = Augmenter(augmenters=names) if names else Augmenter()
        cold = rate(lambda engine=engine: engine.augment(texts, 1, seed=0), len(texts))
        warm = rate(lambda engine=engine: engine.augment(texts, 1, seed=1), len(texts))
        outputs = engine.augment(texts, 1, seed=2)
        pairs = [(t, o[0]) for t, o in zip(texts, outputs, strict=True) if o]
        rows.append({"augmenter": "+".join(engine.config.augmenters) if names is None else names[0],
                     "engine": "augment", "cold_posts_per_s": cold, "warm_posts_per_s": warm,
                     "changed": round(len(pairs) / len(texts), 3), "stray_spaces": round(stray_rate(pairs), 3)})
    rows[-1]["augmenter"] = "composite (" + rows[-1]["augmenter"] + ")"
    return [{"wordnet_load_s": round(load_s, 2)}, *rows]


_STRAY = re.compile(r"\w \W?['’] ?\w|\w [.,!?;:](?:\s|$)|[“(] ")


def stray_rate(pairs: Sequence[tuple[str, str]]) -> float:
    """Share of outputs with more token-joined artefacts ("I ' m", "word .", "“ we") than their input had."""
    worse = sum(1 for source, output in pairs if len(_STRAY.findall(output)) > len(_STRAY.findall(source)))
    return worse / max(len(pairs), 1)


def stock_nlpaug(texts: list[str]) -> list[dict[str, Any]]:
    """nlpaug's own augmenters at ALEX's 10% of words (global RNG, its tokeniser), for comparison."""
    import random

    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw

    random.seed(0)  # nlpaug draws from the global generators; seeded here so the comparison is repeatable
    np.random.seed(0)
    stock = {"char": nac.RandomCharAug(action="substitute", aug_word_p=0.1), "keyboard": nac.KeyboardAug(aug_word_p=0.1),
             "swap": naw.RandomWordAug(action="swap", aug_p=0.1), "delete": naw.RandomWordAug(action="delete", aug_p=0.1)}
    rows = []
    for name, aug in stock.items():
        outputs: list[str] = []
        speed = rate(lambda aug=aug, outputs=outputs: outputs.extend(aug.augment(t)[0] for t in texts), len(texts))
        rows.append({"augmenter": name, "engine": "nlpaug 1.1.11", "warm_posts_per_s": speed,
                     "changed": round(sum(o != t for t, o in zip(texts, outputs, strict=True)) / len(texts), 3),
                     "stray_spaces": round(stray_rate(list(zip(texts, outputs, strict=True))), 3)})
    rows.append({"augmenter": "synonym", "engine": "nlpaug 1.1.11", "note": stock_synonym_status(texts[0])})
    return rows


def stock_synonym_status(text: str) -> str:
    """Whether nlpaug's SynonymAug runs offline here (it needs NLTK's POS tagger data)."""
    import nlpaug.augmenter.word as naw

    from augment.wordnet import register_with_nltk

    register_with_nltk()
    try:
        naw.SynonymAug(aug_src="wordnet").augment(text)
        return "runs"
    except Exception as err:  # LookupError after nlpaug's download attempt fails; other downloader errors
        missing = re.search(r"Resource \S+ not found", str(err))
        return f"fails offline: {type(err).__name__}: {missing.group() if missing else str(err)[:120]}"


def load_task(root: Path, task: Task) -> tuple[Any, Any]:
    return load_train_eval(root / task.train, root / task.valid)


def make_classifier(kind: str, class_weight: str | None, seed: int) -> Any:
    if kind == "tfidf":
        from classifiers import TfidfBaseline

        return TfidfBaseline(class_weight=class_weight, seed=seed)
    from classifiers import TextClassifier

    memoize_encoder()
    return TextClassifier(method="head", max_length=128, class_weight=class_weight, seed=seed, tune_threshold=False)


@functools.lru_cache(maxsize=1)
def memoize_encoder() -> None:
    """The frozen encoder gives a post the same vector in every arm: embed each distinct post once."""
    from classifiers.encoder import shared_encoder

    encoder = shared_encoder("embedded", 128)
    original, cache = encoder.encode, {}

    def encode(texts: Sequence[str], *, normalize: bool = True, progress: bool = False) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (t, normalize) not in cache))
        if missing:
            for text, vector in zip(missing, original(missing, normalize=normalize, progress=progress), strict=True):
                cache[(text, normalize)] = vector
        return np.stack([cache[(t, normalize)] for t in texts]) if texts else original(texts, normalize=normalize)

    encoder.encode = encode  # type: ignore[method-assign]


def ablation(root: Path, task: Task, kind: str, seed: int) -> list[dict[str, Any]]:
    from classifiers import compute_metrics

    train, valid = load_task(root, task)
    balanced: dict[str, tuple[list[str], list[str]]] = {}
    rows: list[dict[str, Any]] = []
    for arm, class_weight, target in ARMS:
        spec = task.target if target == TASK_TARGET else target
        if spec == "oversample" and spec not in balanced:
            balanced[spec] = oversample(train.texts, train.labels, task.target, seed)
        elif spec is not None and spec not in balanced:
            balanced[spec], summary = balance_arm(train, valid, spec, seed)
            rows.append({"task": task.name, "classifier": kind, "arm": f"balancing to {spec}", **summary})
        texts, labels = balanced[spec] if spec is not None else (train.texts, train.labels)
        model, train_s = timed(lambda cw=class_weight, x=texts, y=labels: make_classifier(kind, cw, seed).fit(x, y))
        positive = "1" if task.metric == "positive_f1" else None
        metrics = compute_metrics(valid.labels, model.predict(valid.texts), model.labels, positive)
        rows.append({"task": task.name, "classifier": kind, "arm": arm, "train_size": len(texts),
                     "train_s": round(train_s, 1), "metric": task.metric, "score": round(metrics[task.metric], 4),
                     "micro_f1": round(metrics["micro_f1"], 4), "macro_f1": round(metrics["macro_f1"], 4)})
        table = markdown_table(rows[-1:], list(rows[-1])).splitlines()
        print("\n".join(table if arm.startswith("a:") else table[2:]), flush=True)
    return rows


def oversample(texts: list[str], labels: list[str], spec: str, seed: int) -> tuple[list[str], list[str]]:
    """imbalanced-learn's RandomOverSampler up to the same targets as the augmenting arm (duplicates)."""
    from collections import Counter

    from imblearn.over_sampling import RandomOverSampler

    from augment import parse_target

    counts = Counter(labels)
    targets = parse_target(spec).resolve(dict(counts))
    sampler = RandomOverSampler(sampling_strategy={k: v for k, v in targets.items() if v > counts[k]},
                                random_state=seed)
    sampler.fit_resample(np.arange(len(texts)).reshape(-1, 1), np.array(labels, dtype=object))
    return [texts[i] for i in sampler.sample_indices_], [labels[i] for i in sampler.sample_indices_]


def balance_arm(train: Any, valid: Any, spec: str, seed: int) -> tuple[tuple[list[str], list[str]], dict[str, Any]]:
    """The training split balanced to ``spec`` (never producing a validation post), and its counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, seconds = timed(lambda: balance_report(_frame(train), target=spec, seed=seed,
                                                       exclude_texts=valid.texts))
    data = (list(result.frame["text"]), [str(v) for v in result.frame["label"]])
    return data, {"target": spec, "before": result.before, "after": result.after, "augmented": result.augmented,
                  "balance_s": round(seconds, 1)}


def _frame(table: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"text": table.texts, "label": table.labels})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=default_datasets())
    parser.add_argument("--classifier", choices=("head", "tfidf", "both"), default="both")
    parser.add_argument("--posts", type=int, default=1000, help="real tweets for the throughput part")
    parser.add_argument("--tasks", default=",".join(t.name for t in TASKS))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-ablation", action="store_true")
    args = parser.parse_args(argv)
    if not args.datasets.is_dir():
        parser.error(f"datasets folder not found: {args.datasets} (use --datasets or SHARED_DATASETS)")
    report: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}}
    if not args.skip_throughput:
        texts = real_tweets(args.datasets, args.posts)
        speed = ours(texts) + stock_nlpaug(texts)
        report["throughput"] = {"posts": len(texts), "single_core": True, "rows": speed}
        print(markdown_table(speed[1:], ["augmenter", "engine", "cold_posts_per_s", "warm_posts_per_s", "changed",
                                         "stray_spaces", "note"]), flush=True)
        print(f"WordNet load: {speed[0]['wordnet_load_s']} s", flush=True)
    if not args.skip_ablation:
        kinds = ("tfidf", "head") if args.classifier == "both" else (args.classifier,)
        wanted = set(args.tasks.split(","))
        report["ablation"] = [row for kind in kinds for task in TASKS if task.name in wanted
                              for row in ablation(args.datasets, task, kind, args.seed)]
    report["peak_rss_mib"] = peak_rss_mib()
    print(f"wrote {write_report('augment', report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
