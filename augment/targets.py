"""Class-size targets for balancing: ``max``, ``N``, ``label=N,...`` or ``ratio:R``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

TARGET_HELP = (
    "max (every class up to the largest), N (every class to N: augment up or under-sample down), "
    "label=N,... (those classes to N, others unchanged) or ratio:R (every class to at least R x the largest)"
)


@dataclass(frozen=True, kw_only=True)
class Target:
    """How many rows each class should have after balancing."""

    kind: Literal["max", "count", "per_label", "ratio"]
    count: int | None = None
    per_label: Mapping[str, int] = field(default_factory=dict)
    ratio: float | None = None

    def __post_init__(self) -> None:
        if self.kind == "count" and (self.count is None or self.count < 1):
            raise ValueError(f"a class-size target must be a positive count, got {self.count}")
        if self.kind == "ratio" and (self.ratio is None or not 0 < self.ratio <= 1):
            raise ValueError(f"a ratio target must be in (0, 1], got {self.ratio}")
        if self.kind == "per_label":
            if not self.per_label:
                raise ValueError("a per-label target needs at least one label=N")
            bad = {k: v for k, v in self.per_label.items() if v < 1}
            if bad:
                raise ValueError(f"per-label targets must be positive counts, got {bad}")

    def resolve(self, counts: Mapping[str, int]) -> dict[str, int]:
        """The target row count for each class present in ``counts``."""
        if not counts:
            raise ValueError("no labelled rows to balance")
        largest = max(counts.values())
        if self.kind == "max":
            return {label: largest for label in counts}
        if self.kind == "count":
            return {label: int(self.count or 0) for label in counts}
        if self.kind == "ratio":
            floor = math.ceil((self.ratio or 0) * largest)
            return {label: max(n, floor) for label, n in counts.items()}
        unknown = sorted(set(self.per_label) - set(counts))
        if unknown:
            raise ValueError(f"target names labels {unknown} that are not in the data; the labels are {sorted(counts)}")
        return {label: self.per_label.get(label, n) for label, n in counts.items()}


def parse_target(spec: str | int | Target) -> Target:
    """Parse ``max``, ``2000``, ``0=2000,1=2000`` or ``ratio:0.5`` (see TARGET_HELP)."""
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, int):
        return Target(kind="count", count=spec)
    text = str(spec).strip()
    if text.lower() == "max":
        return Target(kind="max")
    if text.lower().startswith("ratio:"):
        return Target(kind="ratio", ratio=_number(text[6:], text, float))
    if "=" in text:
        per_label = {}
        for part in text.split(","):
            label, sep, value = part.rpartition("=")
            if not sep or not label.strip():
                raise ValueError(f"bad target {text!r}: expected label=N,label=N; {TARGET_HELP}")
            per_label[label.strip()] = _number(value, text, int)
        return Target(kind="per_label", per_label=per_label)
    return Target(kind="count", count=_number(text, text, int))


def _number(value: str, spec: str, kind: type) -> int | float:
    try:
        return kind(value.strip())
    except ValueError:
        raise ValueError(f"bad target {spec!r}: {value.strip()!r} is not a number; use {TARGET_HELP}") from None
