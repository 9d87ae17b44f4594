"""``python -m bench [--quick] [--only NAME,...]``: every benchmark, one after the other, each in its own process
(so one's memory and threads never skew another's), then one report: ``bench/results/SUMMARY.md`` and the
block between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md.

``--quick`` gives each benchmark a time budget (below; about 9.5 minutes in all) and stops one that overruns,
so the whole run fits in 10 minutes; the report says which ones finished. Without ``--quick`` the budgets are
only reported, never enforced.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import REPO, RESULTS, machine
from bench.report import RunRecord, load_results, render, update_readme, write_summary

QUICK_TOTAL_S = 570


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    """A benchmark module and how to run it quickly: ``--quick`` when it has one, else ``quick_args``."""

    name: str
    module: str
    quick_budget_s: int
    quick_args: tuple[str, ...] = ()
    full_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.quick_budget_s <= 0:
            raise ValueError(f"{self.name}: quick_budget_s must be positive")

    @property
    def source(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)
        return Path(spec.origin) if spec is not None and spec.origin else None

    def command(self, quick: bool) -> list[str]:
        args = list(self.full_args)
        if quick:
            source = self.source
            has_quick = source is not None and '"--quick"' in source.read_text(encoding="utf-8")
            args = ["--quick"] if has_quick else list(self.quick_args)
        return [sys.executable, "-m", self.module, *args]


# Quick budgets sum to QUICK_TOTAL_S (9.5 minutes), leaving half a minute for start-up and the report.
BENCHMARKS = (
    Benchmark(name="classifier", module="bench.classifier_bench", quick_budget_s=200),
    Benchmark(name="scale", module="bench.scale_bench", quick_budget_s=150),
    Benchmark(name="augment", module="bench.augment_bench", quick_budget_s=80,
              quick_args=("--classifier", "tfidf", "--posts", "300")),
    Benchmark(name="explain", module="bench.explain_bench", quick_budget_s=50),
    Benchmark(name="agent", module="bench.agent_bench", quick_budget_s=50, quick_args=("--turns", "2")),
    Benchmark(name="demo", module="bench.demo_bench", quick_budget_s=40),
)


def select(only: str | None) -> list[Benchmark]:
    if not only:
        return list(BENCHMARKS)
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    known = {b.name: b for b in BENCHMARKS}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"error: unknown benchmark(s) {unknown}; choose from {sorted(known)}")
    return [known[n] for n in wanted]


def run_one(bench: Benchmark, quick: bool, deadline: float | None) -> RunRecord:
    """Run one benchmark in a subprocess; in quick mode it is stopped at its budget (or the overall deadline)."""
    command = bench.command(quick)
    record = dict(name=bench.name, module=bench.module, args=tuple(command[3:]), budget_s=bench.quick_budget_s)
    if bench.source is None:
        return RunRecord(**record, status="skipped: module not present")
    limit = None
    if quick:
        limit = max(1.0, min(bench.quick_budget_s, deadline - time.monotonic()) if deadline else bench.quick_budget_s)
    print(f"== {bench.name}: {' '.join(command[1:])}" + (f" (budget {limit:.0f} s)" if limit else ""), flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": os.environ.get("TQDM_DISABLE", "1")}
    start = time.monotonic()
    # Its own process group, so a stopped benchmark takes its helpers (model servers, Ray workers) with it.
    proc = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    try:
        code = proc.wait(timeout=limit)
        status = "ok" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        stop_group(proc)
        status = f"stopped at its {limit:.0f} s budget"
    except KeyboardInterrupt:
        stop_group(proc)
        raise
    return RunRecord(**record, seconds=round(time.monotonic() - start, 1), status=status)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the benchmark's process group, SIGKILL after 10 s if it is still there."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small budgets; the whole run fits in 10 minutes")
    parser.add_argument("--only", help="comma-separated subset: " + ",".join(b.name for b in BENCHMARKS))
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from bench/results/*.json")
    parser.add_argument("--no-readme", action="store_true", help="do not touch the README block")
    args = parser.parse_args(argv)
    started = time.time()
    deadline = time.monotonic() + QUICK_TOTAL_S if args.quick else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = [] if args.report_only else [run_one(b, args.quick, deadline) for b in select(args.only)]
    text = render(load_results(), runs, machine=machine(), mode=None if args.report_only else
                  ("quick" if args.quick else "full"), started=None if args.report_only else started)
    path = write_summary(text)
    in_readme = not args.no_readme and update_readme(text)
    print(f"wrote {path}" + (" and the README benchmark block" if in_readme else ""))
    for run in runs:
        print(f"  {run.name:<11} {run.status:<32} {run.seconds or 0:>7.1f} s")
    return 0 if all(r.status == "ok" or r.status.startswith("skipped") for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
