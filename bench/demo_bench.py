"""Demo start-up benchmark: cold start (empty cache: trains the classifier, builds the index) and warm start.

    python -m bench.demo_bench [--warm-runs 2] [--cache-dir DIR]

Each run starts ``python demo.py`` on a free port and records when the port opens (the page can be served)
and when the app reports it is ready to answer (model and index loaded, or trained and cached). The cold run
uses a fresh cache folder. Results go to bench/results/demo.json (written atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.agent_bench import environment, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "demo.json"
READY = re.compile(r"ALEX demo ready in ([\d.]+) s")
FAILED = re.compile(r"ALEX demo preparation failed: (.*)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_once(cache_dir: Path, log_path: Path, timeout: float = 900.0) -> dict[str, Any]:
    """Seconds from launch to the port opening and to the app being ready; the process is stopped after."""
    port = _free_port()
    env = {**os.environ, "ALEX_CACHE_DIR": str(cache_dir), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "demo.py", "--port", str(port), "-v"], cwd=REPO, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            return _watch(process, port, log_path, start, timeout)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _watch(process: subprocess.Popen, port: int, log_path: Path, start: float, timeout: float) -> dict[str, Any]:
    port_s = None
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"demo.py exited with code {process.returncode}; see {log_path}")
        if port_s is None and _port_open(port):
            port_s = time.perf_counter() - start
        text = log_path.read_text(errors="replace")
        if FAILED.search(text):
            raise RuntimeError(f"demo preparation failed: {FAILED.search(text).group(1)}")
        if port_s is not None and READY.search(text):
            return {"port_open_s": round(port_s, 2), "ready_s": round(time.perf_counter() - start, 2),
                    "ready_in_process_s": float(READY.search(text).group(1))}
        time.sleep(0.2)
    raise TimeoutError(f"demo.py was not ready within {timeout:.0f} s; see {log_path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, help="cache folder for the runs (default: a fresh temporary one)")
    parser.add_argument("--quick", action="store_true",
                        help="one warm start on the user's cache (ALEX_CACHE_DIR); no cold start")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        return quick(args.output)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="alex-demo-bench-"))
    fresh = args.cache_dir is None or not any(cache.glob("models/*"))
    logs = Path(tempfile.mkdtemp(prefix="alex-demo-logs-"))
    try:
        cold = start_once(cache, logs / "cold.log")
        warm = [start_once(cache, logs / f"warm-{i}.log") for i in range(args.warm_runs)]
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
    data = {"benchmark": "demo", "cold_start": {**cold, "trained": fresh}, "warm_starts": warm,
            "warm_ready_s_best": min((w["ready_s"] for w in warm), default=None),
            "environment": environment(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_results(data, args.output)
    print(f"cold start ({'with training' if fresh else 'cache present'}): port open {cold['port_open_s']} s, "
          f"ready {cold['ready_s']} s")
    for i, run in enumerate(warm, start=1):
        print(f"warm start {i}: port open {run['port_open_s']} s, ready {run['ready_s']} s")
    print(f"environment: {json.dumps(data['environment'])}")
    return 0


def quick(output: Path) -> int:
    """A warm start only, on the cache a user's demo would use; skipped (and said so) when nothing is cached."""
    from agent.settings import load_settings
    from agent.workspace import DEFAULT_TEST, DEFAULT_TRAIN, cache_entry, cache_root, is_cached

    cache = cache_root(load_settings())
    data: dict[str, Any] = {"benchmark": "demo", "quick": True, "cache_dir": str(cache),
                            "environment": environment(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if is_cached(cache_entry(DEFAULT_TRAIN, DEFAULT_TEST, cache)):
        data["warm_starts"] = [start_once(cache, Path(tempfile.mkdtemp(prefix="alex-demo-logs-")) / "warm.log")]
        print(f"warm start: port open {data['warm_starts'][0]['port_open_s']} s, "
              f"ready {data['warm_starts'][0]['ready_s']} s")
    else:
        data["note"] = f"no cached model in {cache}: run the full benchmark (cold and warm starts) or the demo once"
        print(data["note"])
    write_results(data, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
