"""Merge ``bench/results/*.json`` into one Markdown report: the machine, what ran (and how long, on which
device), then each benchmark's figures as tables. Written to ``bench/results/SUMMARY.md`` and into the block
between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md when those markers are present."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS, markdown_table
from classifiers.io import atomic_path

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SKIP_KEYS = {"benchmark", "date", "machine", "environment"}
MAX_COLUMNS = 12


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One benchmark's run by ``python -m bench``: its budget, time taken and outcome."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    budget_s: float | None = None
    seconds: float | None = None
    status: str = "not run"


def load_results(directory: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every results JSON by benchmark name (file stem); unreadable files are reported, not fatal."""
    results: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            data = {"error": f"unreadable results file ({type(err).__name__}: {err})"}
        if isinstance(data, dict):
            data["_file"] = path.name
            data["_mtime"] = path.stat().st_mtime
            results[path.stem] = data
    return results


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:80]
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts of scalars become ``a.b`` keys; lists stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _table_of_rows(rows: Sequence[dict[str, Any]]) -> str:
    flat = [_flatten(r) for r in rows]
    columns: list[str] = []
    for row in flat:
        columns += [k for k, v in row.items() if k not in columns and not isinstance(v, list | dict)]
    columns = columns[:MAX_COLUMNS]
    return markdown_table([{c: _cell(r.get(c)) for c in columns} for r in flat], columns)


def render_section(name: str, data: dict[str, Any]) -> str:
    """Any benchmark's JSON: lists of records as tables, the remaining scalars as one key/value table."""
    lines = [f"### {name}", ""]
    machine = data.get("machine", {})
    source = f"from `bench/results/{data.get('_file', name + '.json')}`"
    lines.append(f"_{data.get('date', 'undated')}, device: {machine.get('device', 'unknown')}; {source}_")
    lines.append("")
    scalars: dict[str, Any] = {}
    for key, value in data.items():
        if key in SKIP_KEYS or key.startswith("_"):
            continue
        _render_value(key, value, lines, scalars)
    if scalars:
        lines += ["", markdown_table([{"figure": k, "value": _cell(v)} for k, v in scalars.items()],
                                     ["figure", "value"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _render_value(key: str, value: Any, lines: list[str], scalars: dict[str, Any]) -> None:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines += [f"**{key}**", "", _table_of_rows(value), ""]
    elif isinstance(value, dict):
        lists = {k: v for k, v in value.items() if isinstance(v, list) and v and all(isinstance(i, dict) for i in v)}
        for sub, rows in lists.items():
            lines += [f"**{key}.{sub}**", "", _table_of_rows(rows), ""]
        rest = {k: v for k, v in value.items() if k not in lists}
        for flat_key, flat_value in _flatten(rest, f"{key}.").items():
            if isinstance(flat_value, list) and flat_value and all(isinstance(i, dict) for i in flat_value):
                lines += [f"**{flat_key}**", "", _table_of_rows(flat_value), ""]
            else:
                scalars[flat_key] = flat_value
    else:
        scalars[key] = value


def machine_lines(machine: dict[str, Any]) -> list[str]:
    memory = f"{machine.get('memory_gib', '?')} GiB RAM"
    return [f"Machine: {machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores, {memory}, "
            f"device **{machine.get('device', 'unknown')}**, torch {machine.get('torch', '?')}, "
            f"Python {machine.get('python', '?')}, {machine.get('platform', '')}"]


def render(results: dict[str, dict[str, Any]], runs: Sequence[RunRecord] = (), *, machine: dict[str, Any],
           mode: str | None = None, started: float | None = None) -> str:
    """The whole report; results older than ``started`` are marked as from an earlier run."""
    lines = ["## Benchmarks", ""]
    lines += machine_lines(machine)
    if mode:
        lines += ["", f"Mode: **{mode}** (`python -m bench{' --quick' if mode == 'quick' else ''}`)."]
    if runs:
        rows = [{"benchmark": r.name, "command": f"python -m {r.module} {' '.join(r.args)}".strip(),
                 "budget_s": r.budget_s if r.budget_s is not None else "", "took_s": r.seconds or "",
                 "status": r.status,
                 "device": results.get(r.name, {}).get("machine", {}).get("device", "")} for r in runs]
        rows = [{k: _cell(v) for k, v in row.items()} for row in rows]
        lines += ["", markdown_table(rows, ["benchmark", "command", "budget_s", "took_s", "status", "device"])]
    lines.append("")
    for name, data in sorted(results.items()):
        section = render_section(name, data)
        if started is not None and data.get("_mtime", started) < started:
            section = section.replace("\n", "\n_(from an earlier run: not rerun this time)_\n", 1)
        lines.append(section)
    return "\n".join(lines).rstrip() + "\n"


def write_summary(text: str, directory: Path = RESULTS) -> Path:
    path = directory / "SUMMARY.md"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def update_readme(text: str, readme: Path = REPO / "README.md") -> bool:
    """Replace only the block between the markers; README.md without them is left untouched."""
    if not readme.exists():
        return False
    content = readme.read_text(encoding="utf-8")
    start, end = content.find(START), content.find(END)
    if start < 0 or end < start:
        return False
    updated = content[: start + len(START)] + "\n" + text.rstrip() + "\n" + content[end:]
    if updated != content:
        with atomic_path(readme) as tmp:
            tmp.write_text(updated, encoding="utf-8")
    return True
