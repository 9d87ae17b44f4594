"""Agent benchmark: tool-selection accuracy on the routing suite, and turn latency (p50/p95).

    python -m bench.agent_bench [--turns 8] [--suite tests/data/routing_suite.jsonl] [--rules-only] [--quick]

Routing accuracy is reported overall and separately for turns where the model's choice was accepted and turns
the deterministic fallback routed, plus the model's raw choice before any check. Latency covers a
classify-and-explain request and a follow-up ("why?"), with the embedded LLM unless ALEX_GGUF says otherwise.
Results go to bench/results/agent.json (written atomically).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "tests" / "data" / "routing_suite.jsonl"
RESULTS = REPO / "bench" / "results" / "agent.json"
EXPLAIN_REQUESTS = (
    'Explain the label of "I took ibuprofen for my migraine and it did nothing, still in agony after 3 hours"',
    'Classify and explain: "Lexapro made me feel like myself again after two weeks, only mild nausea"',
    'Why would this be labelled negative: "Metformin upset my stomach so badly I stopped after a week"',
    'Explain "The inhaler works ok I guess, nothing special, but no side effects either"',
)
FOLLOW_UPS = ("why?", "which similar posts?", "what would change your mind?", "give me 3 augmented versions")


@dataclass(frozen=True)
class CaseResult:
    id: str
    category: str
    split: str
    expected: str
    tool: str
    source: str
    model_choice: str | None
    correct: bool
    seconds: float


def load_suite(path: Path = SUITE) -> list[dict[str, Any]]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number} is not valid JSON ({err.msg})") from None
    return cases


def case_correct(case: dict[str, Any], route: Any) -> bool:
    """The expected tool, plus any expected arguments, post text, topic or focus."""
    args = route.args
    checks = [route.tool == case["expected"]]
    checks += [args.get(k) == v for k, v in case.get("expect_args", {}).items()]
    if "expect_posts" in case:
        checks.append(len(args.get("texts") or []) == case["expect_posts"])
    if "expect_text" in case:
        checks.append((args.get("text") or (args.get("texts") or [None])[0]) == case["expect_text"])
    if "expect_topic" in case:
        checks.append(route.topic == case["expect_topic"])
    if "expect_focus" in case:
        checks.append(route.focus == case["expect_focus"])
    return all(checks)


def run_suite(router: Any, cases: Sequence[dict[str, Any]]) -> list[CaseResult]:
    from agent.router import Memory

    results = []
    for case in cases:
        start = time.perf_counter()
        route = router.route(case["message"], Memory(**case.get("memory", {})))
        results.append(CaseResult(case["id"], case["category"], case.get("split", "dev"), case["expected"],
                                  route.tool, route.source, route.model_choice, case_correct(case, route),
                                  round(time.perf_counter() - start, 3)))
    return results


def _accuracy(items: Sequence[CaseResult]) -> dict[str, Any]:
    right = sum(r.correct for r in items)
    return {"n": len(items), "correct": right, "accuracy": round(right / len(items), 4) if items else None}


def summarize_suite(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Overall, by who routed (model / fallback), by category and split, and the model's raw choices."""
    by_source: dict[str, list[CaseResult]] = defaultdict(list)
    by_category: dict[str, list[CaseResult]] = defaultdict(list)
    by_split: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_source[r.source].append(r)
        by_category[r.category].append(r)
        by_split[r.split].append(r)
    raw = [r for r in results if r.model_choice is not None]
    return {
        "overall": _accuracy(results),
        "model_chosen": _accuracy(by_source.get("model", [])),
        "fallback_routed": _accuracy(by_source.get("fallback", [])),
        "model_raw_choice": {"n": len(raw), "accuracy": round(sum(r.model_choice == r.expected for r in raw)
                                                             / len(raw), 4) if raw else None,
                             "invalid_or_failed": len(results) - len(raw)},
        "by_category": {k: _accuracy(v) for k, v in sorted(by_category.items())},
        "by_split": {k: _accuracy(v) for k, v in sorted(by_split.items())},
        "route_seconds_p50": round(statistics.median(r.seconds for r in results), 3) if results else None,
        "failures": [{"id": r.id, "expected": r.expected, "got": r.tool, "source": r.source,
                      "model_choice": r.model_choice} for r in results if not r.correct],
        "model_choices": dict(Counter(r.model_choice or "none" for r in results)),
    }


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_turns(agent: Any, turns: int) -> dict[str, Any]:
    """Wall time of classify-and-explain requests (new threads) and of follow-ups in the same thread."""
    explain, follow = [], []
    for i in range(turns):
        thread = f"bench-{i}"
        start = time.perf_counter()
        agent.ask(EXPLAIN_REQUESTS[i % len(EXPLAIN_REQUESTS)], thread_id=thread)
        explain.append(time.perf_counter() - start)
        start = time.perf_counter()
        agent.ask(FOLLOW_UPS[i % len(FOLLOW_UPS)], thread_id=thread)
        follow.append(time.perf_counter() - start)

    def stats(values: list[float]) -> dict[str, Any]:
        return {"n": len(values), "p50_s": round(percentile(values, 0.5), 3), "p95_s": round(percentile(values, 0.95), 3),
                "mean_s": round(statistics.fmean(values), 3)}

    return {"classify_and_explain": stats(explain), "follow_up": stats(follow)}


def write_results(data: dict[str, Any], path: Path = RESULTS) -> Path:
    from classifiers.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def environment() -> dict[str, Any]:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": cpus,
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--turns", type=int, default=8, help="timed request + follow-up pairs (0: skip latency)")
    parser.add_argument("--rules-only", action="store_true", help="route without the model (the fallback alone)")
    parser.add_argument("--skip-suite", action="store_true", help="latency only")
    parser.add_argument("--quick", action="store_true",
                        help="every 5th suite case with the model, 2 timed turns, and only if a model is cached")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from agent.router import Router, RouterConfig
    from agent.settings import load_settings
    from agent.workspace import DEFAULT_TEST, DEFAULT_TRAIN, cache_entry, cache_root, is_cached, local_llms

    settings = load_settings()
    config = RouterConfig(use_model=not args.rules_only)
    router_llm = None if args.rules_only else local_llms(settings)[1]
    router = Router(router_llm, config)
    router.route("hello")  # load the GGUF and read the fixed prompt before timing
    cases = [] if args.skip_suite else load_suite(args.suite)[:: 5 if args.quick else 1]
    suite = summarize_suite(run_suite(router, cases))
    rules = summarize_suite(run_suite(Router(None, RouterConfig(use_model=False)), cases))
    turns = min(args.turns, 2) if args.quick else args.turns
    latency, about, note = None, None, None
    if turns > 0 and args.quick and not is_cached(cache_entry(DEFAULT_TRAIN, DEFAULT_TEST, cache_root(settings))):
        note = "latency skipped in --quick mode: no cached model (run the full benchmark, or the demo, once)"
    elif turns > 0:
        from agent import build_agent

        agent = build_agent(settings, router_config=config)
        agent.warm_up()
        latency, about = time_turns(agent, turns), agent.workspace.describe()
    data = {"benchmark": "agent", "llm": getattr(router_llm, "name", None), "about": about, "note": note,
            "llm_threads": getattr(getattr(router_llm, "config", None), "n_threads", None) or "all CPUs",
            "router": "rules" if args.rules_only else "model+fallback", "quick": args.quick,
            "suite": {"path": str(args.suite.relative_to(REPO) if args.suite.is_relative_to(REPO) else args.suite),
                      "cases": len(cases), **suite},
            "rules_only_suite": {k: rules[k] for k in ("overall", "by_split")}, "latency": latency,
            "environment": environment(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_results(data, args.output)
    print(_report(data))
    return 0


def _report(data: dict[str, Any]) -> str:
    suite = data["suite"]
    if not suite["cases"]:
        lines = [f"LLM {data['llm']} ({data['llm_threads']} threads), router {data['router']}"] + (
            [data["note"]] if data["note"] else [])
        return "\n".join(lines + _latency_lines(data) + [f"environment: {json.dumps(data['environment'])}"])
    lines = [f"routing suite ({suite['cases']} cases, {data['router']}, LLM {data['llm']}):",
             f"  overall          {suite['overall']['correct']}/{suite['overall']['n']} = {suite['overall']['accuracy']}",
             f"  model-chosen     {suite['model_chosen']['correct']}/{suite['model_chosen']['n']} = "
             f"{suite['model_chosen']['accuracy']}",
             f"  fallback-routed  {suite['fallback_routed']['correct']}/{suite['fallback_routed']['n']} = "
             f"{suite['fallback_routed']['accuracy']}",
             f"  model raw choice accuracy {suite['model_raw_choice']['accuracy']} (before checks)",
             f"  rules alone      {data['rules_only_suite']['overall']['accuracy']}",
             f"  by split         {json.dumps(suite['by_split'])}"]
    if suite["failures"]:
        lines.append("  failures: " + ", ".join(f"{f['id']} ({f['got']})" for f in suite["failures"]))
    lines += _latency_lines(data) + ([data["note"]] if data["note"] else [])
    lines.append(f"environment: {json.dumps(data['environment'])}")
    return "\n".join(lines)


def _latency_lines(data: dict[str, Any]) -> list[str]:
    return [f"{name}: p50 {stats['p50_s']} s, p95 {stats['p95_s']} s (n={stats['n']})"
            for name, stats in (data["latency"] or {}).items()]


if __name__ == "__main__":
    sys.exit(main())
