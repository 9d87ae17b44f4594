"""Explanation benchmark: FAISS search at scale, and F1 / latency / valid-output rate of BERT + LLM policies.

    python -m bench.explain_bench [--datasets ../shared/datasets] [--quick] [--sample 200]

Retrieval: exact vs HNSW on random unit vectors (dim 384): build time, memory, single-query p50/p95, recall.
Tasks (smm4h21_task5_covid, binary; drugs.com, 3-class): a ``head`` classifier and an index on the training
split; on a fixed stratified sample of the evaluation split, F1 of BERT alone, BERT + neighbour vote and
BERT + the embedded LLM under each policy (one LLM pass, every policy applied to the same answers), plus the
calibrated policy chosen on one half and scored on the other. Latency: full ``explain()`` calls (attribution,
5 neighbours, LLM), wall clock and CPU time, with the load average, since the CPU may be shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from agent.explainer import Explainer, ExplainerConfig, Explanation
from agent.llm import CachedLLM, LLMConfig, get_llm
from agent.policy import DEFAULT_POLICY, Policy, calibrate, policy_score, stratified_positions
from agent.prompts import TaskSpec
from agent.retrieval import ExampleIndex, IndexConfig, build_faiss_index
from bench.common import REPO, RESULTS, default_datasets, markdown_table, percentiles, write_report

logger = logging.getLogger("bench.explain")
CACHE = REPO / ".cache" / "bench_explain"
SEED = 13

COVID_TASK = TaskSpec(
    task="Decide whether a tweet self-reports a potential case of COVID-19 in the author or their household.",
    labels={"0": "any other tweet: news, opinions, jokes, or cases of people outside the author's household",
            "1": "the author or someone in their household has, may have, or was tested or treated for COVID-19"},
)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Path
    test: Path
    task: TaskSpec


def datasets(root: Path) -> list[Dataset]:
    drugs = TaskSpec.load(REPO / "data" / "task_drugscom.json")
    found = [Dataset("drugscom", REPO / "data" / "drugsComTrain.tsv", REPO / "data" / "drugsComTest.tsv", drugs)]
    covid = root / "smm4h21_task5_covid"
    if covid.is_dir():
        found.insert(0, Dataset("smm4h21_task5_covid", covid / "train.tsv", covid / "valid.tsv", COVID_TASK))
    else:
        warnings.warn(f"{covid} not found: only drugs.com is benchmarked", stacklevel=2)
    return found


# -- retrieval --------------------------------------------------------------------------------------------------
def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def search_latency(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[dict[str, float], np.ndarray]:
    times, found = [], []
    for row in queries:
        start = time.perf_counter()
        _, ids = index.search(row[None, :], k)
        times.append(time.perf_counter() - start)
        found.append(ids[0])
    return percentiles(times), np.asarray(found)


def bench_retrieval(sizes: list[int], *, dim: int = 384, n_queries: int = 200, k: int = 5,
                    ef_values: tuple[int, ...] = (64, 256), nprobes: tuple[int, ...] = (8, 16, 64)) -> list[dict[str, Any]]:
    """Exact, IVF and HNSW indexes over the same random unit vectors; queries are perturbed stored vectors.

    Random 384-d vectors are the hardest case for graph search (no low-dimensional structure, unlike text
    embeddings); ``real_recall`` measures recall against exact search on real MiniLM vectors."""
    rng = np.random.default_rng(SEED)
    rows = []
    for n in sizes:
        base = unit_rows(rng, n, dim)
        sources = rng.choice(n, n_queries, replace=False)
        queries = base[sources] + 0.1 * unit_rows(rng, n_queries, dim)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        flat, exact_ids = _timed_index(base, IndexConfig(flat_limit=n + 1)), None
        latency, exact_ids = search_latency(flat[0], queries[: max(20, n_queries // 4)], k)
        rows.append(_row(n, "flat", flat, latency, exact_ids, sources, None))
        del flat
        ivf = _timed_index(base, IndexConfig(flat_limit=1, large_index="ivf"))
        for nprobe in nprobes:
            ivf[0].nprobe = nprobe
            latency, ids = search_latency(ivf[0], queries, k)
            rows.append(_row(n, f"ivf{ivf[0].nlist} nprobe={nprobe}", ivf, latency, ids, sources, exact_ids))
        del ivf
        hnsw = _timed_index(base, IndexConfig(flat_limit=1, large_index="hnsw"))
        for ef in ef_values:
            hnsw[0].hnsw.efSearch = ef
            latency, ids = search_latency(hnsw[0], queries, k)
            rows.append(_row(n, f"hnsw ef={ef}", hnsw, latency, ids, sources, exact_ids))
        del hnsw
    return rows


def _timed_index(vectors: np.ndarray, config: IndexConfig) -> tuple[faiss.Index, float, float]:
    """The index, its build seconds and its size in MiB (serialised: what is saved, and about what it holds)."""
    start = time.perf_counter()
    index = build_faiss_index(vectors, config)
    seconds = time.perf_counter() - start
    return index, seconds, faiss.serialize_index(index).nbytes / 2**20


def _row(n: int, kind: str, built: tuple[faiss.Index, float, float], latency: dict[str, float], ids: np.ndarray,
         sources: np.ndarray, exact_ids: np.ndarray | None) -> dict[str, Any]:
    row = {"examples": n, "index": kind, "build_s": round(built[1], 1), "size_mib": round(built[2]),
           "search_p50_ms": latency["p50_ms"], "search_p95_ms": latency["p95_ms"], "queries": latency["n"],
           "recall_at_1": round(float(np.mean(ids[:, 0] == sources[: len(ids)])), 3)}
    if exact_ids is not None:
        row["recall_at_5_vs_exact"] = _overlap(ids[: len(exact_ids)], exact_ids)
    logger.info("retrieval %s", row)
    return row


def _overlap(found: np.ndarray, exact: np.ndarray) -> float:
    return round(float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact, strict=True)])), 3)


def _cached_index(data: Dataset) -> ExampleIndex | None:
    folder = CACHE / "indexes" / data.name
    return ExampleIndex.load(folder) if (folder / "index.json").is_file() else None


def real_recall(data: Dataset, index: ExampleIndex, k: int = 5) -> list[dict[str, Any]]:
    """IVF and HNSW (default settings) against exact search on real MiniLM vectors: the training posts are
    indexed, the evaluation posts are the queries."""
    queries, _ = load_split(data.test, drop_duplicates=False)
    vectors = index.index.reconstruct_n(0, index.index.ntotal)
    exact = build_faiss_index(vectors, IndexConfig(flat_limit=len(vectors) + 1))
    encoded = index.encoder.encode(queries, normalize=True)
    _, truth = exact.search(encoded, k)
    rows = []
    defaults = IndexConfig()
    ivf = build_faiss_index(vectors, IndexConfig(flat_limit=1, large_index="ivf"))
    hnsw = build_faiss_index(vectors, IndexConfig(flat_limit=1, large_index="hnsw"))
    candidates = [(ivf, "ivf", nprobe, f"nprobe={nprobe} of {ivf.nlist} cells") for nprobe in (defaults.nprobe, 64)]
    candidates.append((hnsw, "hnsw", None, f"M={defaults.hnsw_m}, efConstruction={defaults.ef_construction}, "
                                           f"efSearch={defaults.ef_search}"))
    for built, kind, nprobe, settings in candidates:
        if nprobe is not None:
            built.nprobe = nprobe
        _, found = built.search(encoded, k)
        rows.append({"dataset": data.name, "examples": len(vectors), "queries": len(queries), "index": kind,
                     "settings": settings,
                     "recall_at_1_vs_exact": round(float(np.mean(found[:, 0] == truth[:, 0])), 3),
                     "recall_at_5_vs_exact": _overlap(found, truth)})
    return rows


# -- tasks ------------------------------------------------------------------------------------------------------
def load_split(path: Path, drop_duplicates: bool = True) -> tuple[list[str], list[str]]:
    from classifiers.data import load_table, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = validate(load_table(path), drop_invalid=True, drop_duplicates=drop_duplicates)
    return table.texts, table.labels


def trained_classifier(data: Dataset, texts: list[str], labels: list[str]) -> Any:
    """A ``head`` classifier, cached on disk between runs (it is the same for the same data and seed)."""
    from classifiers import TextClassifier

    folder = CACHE / "models" / data.name
    if (folder / "classifier_config.json").is_file():
        return TextClassifier.from_pretrained(folder)
    model = TextClassifier(method="head", seed=SEED).fit(texts, labels)
    model.save_pretrained(folder)
    return model


def example_index(data: Dataset, texts: list[str], labels: list[str]) -> ExampleIndex:
    folder = CACHE / "indexes" / data.name
    if (folder / "index.json").is_file():
        return ExampleIndex.load(folder)
    index = ExampleIndex.build(texts, labels, [str(i + 1) for i in range(len(texts))])
    index.save(folder)
    return index


def policy_rows(explainer: Explainer, items: list[Explanation], gold: list[str]) -> dict[str, Any]:
    """F1 of each policy on the same LLM answers, and the calibrated policy scored out of sample (2 halves)."""
    labels = list(explainer.labels)
    policies = [DEFAULT_POLICY, Policy(mode="neighbours", threshold=0.6), Policy(mode="neighbours", threshold=1.0),
                Policy(mode="gated", threshold=0.6), Policy(mode="gated", threshold=0.8), Policy(mode="alex")]
    policies += [Policy(mode="alex", check_labels=(label,)) for label in labels]
    scores = {p.name: {m: round(policy_score(p, items, gold, labels, m), 4) for m in _metrics(labels)}
              for p in policies}
    halves = [list(range(0, len(items), 2)), list(range(1, len(items), 2))]
    calibrated_pred, chosen = [None] * len(items), []
    for fit, held in (halves, halves[::-1]):
        result = calibrate([items[i] for i in fit], [gold[i] for i in fit], labels)
        chosen.append(result.policy.name)
        for i in held:
            calibrated_pred[i] = result.policy.decide(items[i]).final_label
    from classifiers.metrics import compute_metrics, default_positive_label

    metrics = compute_metrics(gold, calibrated_pred, labels, default_positive_label(labels))
    scores["calibrated (2-fold: " + " / ".join(chosen) + ")"] = {m: round(metrics[m], 4) for m in _metrics(labels)}
    return scores


def _metrics(labels: list[str]) -> list[str]:
    return ["positive_f1", "micro_f1", "macro_f1"] if len(labels) == 2 else ["micro_f1", "macro_f1"]


def latency(explainer: Explainer, texts: list[str]) -> dict[str, Any]:
    """Full single-post explanations (attribution, retrieval, uncached LLM): wall and CPU seconds."""
    walls, cpus, parts = [], [], {"classify": [], "retrieve": [], "llm": []}
    explainer.explain(texts[0])  # load the LLM and warm its prompt cache, as a running service would be
    load_before = os.getloadavg()[0]
    for text in texts:
        wall, cpu = time.perf_counter(), time.process_time()
        result = explainer.explain(text)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        for key in parts:
            parts[key].append(result.timings[key])
    return {"wall": percentiles(walls), "cpu": percentiles(cpus),
            "parts_p50_ms": {k: round(float(np.median(v)) * 1000, 1) for k, v in parts.items()},
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def bench_task(data: Dataset, args: argparse.Namespace, llm: Any, cache_dir: Path | None) -> dict[str, Any]:
    train_texts, train_labels = load_split(data.train)
    test_texts, test_labels = load_split(data.test, drop_duplicates=False)
    classifier = trained_classifier(data, train_texts, train_labels)
    index = example_index(data, train_texts, train_labels)
    config = ExplainerConfig(k=args.neighbours)
    explainer = Explainer(classifier, index, CachedLLM(llm, cache_dir) if cache_dir else llm, DEFAULT_POLICY,
                          task=data.task, config=config)
    uncached = Explainer(classifier, index, llm, DEFAULT_POLICY, task=data.task, config=config)
    sample = stratified_positions(test_labels, args.sample, seed=SEED)
    texts, gold = [test_texts[i] for i in sample], [test_labels[i] for i in sample]
    start = time.perf_counter()
    items = explainer.explain_many(texts, progress=True)
    llm_seconds = time.perf_counter() - start
    full = Explainer(classifier, index, None, config=ExplainerConfig(k=args.neighbours)).explain_many(test_texts)
    labels = list(explainer.labels)
    full_scores = {p.name: {m: round(policy_score(p, full, test_labels, labels, m), 4) for m in _metrics(labels)}
                   for p in (DEFAULT_POLICY, Policy(mode="neighbours", threshold=0.6))}
    valid = sum(item.llm_label is not None for item in items)
    return {
        "dataset": data.name, "labels": labels, "train": len(train_texts), "eval": len(test_texts),
        "sample": len(items), "neighbours": args.neighbours, "llm": llm.name,
        "full_eval_no_llm": full_scores, "sample_policies": policy_rows(explainer, items, gold),
        "llm_valid_rate": round(valid / len(items), 4),
        "llm_agree_rate": round(sum(i.llm_verdict == "agree" for i in items) / len(items), 4),
        "llm_accuracy": round(sum(i.llm_label == g for i, g in zip(items, gold, strict=True)) / len(items), 4),
        "review_flag_rate": round(sum(i.review_flag for i in items) / len(items), 4),
        "llm_pass_seconds": round(llm_seconds, 1),
        "latency": latency(uncached, texts[: args.latency_posts]),
    }


def print_tables(report: dict[str, Any]) -> None:
    print(markdown_table(report["retrieval"], ["examples", "index", "build_s", "size_mib", "search_p50_ms",
                                               "search_p95_ms", "recall_at_1", "recall_at_5_vs_exact"]))
    for row in report.get("real_vectors", []):
        print(f"recall on real MiniLM vectors: {row}")
    for task in report["tasks"]:
        metric = "positive_f1" if len(task["labels"]) == 2 else "macro_f1"
        print(f"\n{task['dataset']}: sample {task['sample']} of {task['eval']} ({metric}, micro_f1); "
              f"valid LLM outputs {task['llm_valid_rate']:.0%}; LLM agrees with BERT {task['llm_agree_rate']:.0%}")
        rows = [{"policy": name, metric: s[metric], "micro_f1": s["micro_f1"]}
                for name, s in task["sample_policies"].items()]
        print(markdown_table(rows, ["policy", metric, "micro_f1"]))
        lat = task["latency"]
        print(f"explain() latency: wall p50 {lat['wall']['p50_ms']:.0f} ms, p95 {lat['wall']['p95_ms']:.0f} ms; "
              f"CPU p50 {lat['cpu']['p50_ms']:.0f} ms; parts p50 {lat['parts_p50_ms']}; load {lat['load_average']}")


def _previous_report() -> dict[str, Any]:
    path = RESULTS / "explain.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.explain_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=default_datasets())
    parser.add_argument("--quick", action="store_true", help="small sizes: 20k/100k vectors, 40 posts per task")
    parser.add_argument("--sample", type=int, help="evaluation posts per task given to the LLM (default 200)")
    parser.add_argument("--sizes", help="comma-separated index sizes (default 100000,1000000)")
    parser.add_argument("--latency-posts", type=int, default=20)
    parser.add_argument("--neighbours", type=int, default=5)
    parser.add_argument("--n-threads", type=int, help="LLM threads (default: all CPUs)")
    parser.add_argument("--cache-dir", type=Path, help="reuse cached LLM answers for the F1 pass")
    parser.add_argument("--skip-retrieval", action="store_true", help="keep the retrieval rows of the last report")
    parser.add_argument("--skip-tasks", action="store_true", help="keep the task rows of the last report")
    parser.add_argument("--real-only", action="store_true",
                        help="only re-measure recall on real MiniLM vectors (keeps the other rows)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.sample = args.sample or (40 if args.quick else 200)
    args.latency_posts = min(args.latency_posts, 8) if args.quick else args.latency_posts
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([20_000, 100_000] if args.quick
                                                                         else [100_000, 1_000_000])
    previous = _previous_report()
    report: dict[str, Any] = {"retrieval": previous.get("retrieval", []) if args.skip_retrieval else [],
                              "real_vectors": previous.get("real_vectors", []) if args.skip_retrieval else [],
                              "tasks": previous.get("tasks", []) if args.skip_tasks else []}
    settings = {"args": {k: str(v) for k, v in vars(args).items()}}
    if args.real_only:
        args.skip_tasks, report["tasks"] = True, previous.get("tasks", [])
        report["retrieval"] = previous.get("retrieval", [])
    elif not args.skip_retrieval:
        report["retrieval"] = bench_retrieval(sizes)
    if args.real_only or not args.skip_retrieval:
        report["real_vectors"] = [row for data in datasets(args.datasets)
                                  if (index := _cached_index(data)) is not None for row in real_recall(data, index)]
        write_report("explain", {**report, **settings})
    if not args.skip_tasks:
        llm: Any = get_llm(LLMConfig(n_threads=args.n_threads))
        for data in datasets(args.datasets):
            report["tasks"].append(bench_task(data, args, llm, args.cache_dir))
            write_report("explain", {**report, **settings})
    path = write_report("explain", {**report, **settings})
    print_tables(report)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
