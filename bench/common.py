"""What every benchmark needs: the machine description, timers, peak memory and an atomic JSON report."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.io import atomic_path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def default_datasets() -> Path:
    return Path(os.environ.get("SHARED_DATASETS", REPO.parent / "shared" / "datasets"))


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model and accelerator, so every figure says where it came from."""
    import torch

    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        info["cpu"] = names[0] if names else platform.processor()
    info["device"] = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return info


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples_s, dtype=float) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p95_ms": round(float(np.percentile(values, 95)), 2),
            "n": int(values.size)}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def write_report(name: str, report: dict[str, Any], directory: Path = RESULTS) -> Path:
    """bench/results/NAME.json, written atomically, with the machine and the date attached."""
    report = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(), **report}
    path = directory / f"{name}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    return path


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def load_train_eval(train_path: Path, eval_path: Path) -> tuple[Any, Any]:
    """A benchmark's training and evaluation splits, validated quietly (invalid rows dropped), with evaluation
    texts removed from training so no score is inflated by a leak."""
    from classifiers.data import load_table, remove_leaks, validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = validate(load_table(train_path), drop_invalid=True)
        held_out = validate(load_table(eval_path), drop_invalid=True, drop_duplicates=False)
    return remove_leaks(train, held_out), held_out
