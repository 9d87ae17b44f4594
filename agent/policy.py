"""When may the LLM (or the neighbours) change BERT's label? Decision policies and their calibration on dev data.

- ``explain_only``: the label is always BERT's; the LLM only explains.
- ``alex``: ALEX's original rule: the LLM checks predictions of chosen labels and may flip them.
- ``gated``: the LLM may change the label only when BERT's probability is below ``threshold`` and the
  retrieved neighbours' majority agrees with the LLM.
- ``neighbours``: no LLM vote: the neighbours' majority replaces an unsure BERT label (a baseline).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from classifiers.io import atomic_path
from classifiers.metrics import compute_metrics, default_positive_label, primary_metric

MODES = ("explain_only", "alex", "gated", "neighbours")
POLICY_FILE = "policy.json"
POLICY_FORMAT = "alex-policy"
POLICY_VERSION = 1
DEFAULT_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)


@dataclass(frozen=True)
class NeighbourVote:
    """The most common label among the retrieved examples (ties go to the higher summed similarity)."""

    label: str
    count: int
    total: int

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0


def neighbour_vote(neighbours: Sequence[Any]) -> NeighbourVote | None:
    if not neighbours:
        return None
    counts = Counter(n.label for n in neighbours)
    weight: dict[str, float] = {}
    for n in neighbours:
        weight[n.label] = weight.get(n.label, 0.0) + n.similarity
    label = max(counts, key=lambda lab: (counts[lab], weight[lab]))
    return NeighbourVote(label=label, count=counts[label], total=len(neighbours))


@dataclass(frozen=True)
class Decision:
    final_label: str
    changed: bool
    reason: str


class Assessed(Protocol):
    """What a policy needs to know about one post (an ``Explanation`` has all of it)."""

    bert_label: str
    bert_confidence: float
    llm_label: str | None
    neighbour_vote: NeighbourVote | None


@dataclass(frozen=True, kw_only=True)
class Policy:
    mode: str = "gated"
    threshold: float = 0.6
    check_labels: tuple[str, ...] | None = None
    min_vote_share: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown policy {self.mode!r}; choose one of {', '.join(MODES)}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.min_vote_share <= 1.0:
            raise ValueError(f"min_vote_share must be in [0, 1], got {self.min_vote_share}")
        if self.check_labels is not None:
            object.__setattr__(self, "check_labels", tuple(str(lab) for lab in self.check_labels))

    @property
    def name(self) -> str:
        if self.mode in {"gated", "neighbours"}:
            return f"{self.mode}(threshold={self.threshold:.2f})"
        if self.mode == "alex":
            return "alex(" + ("all labels" if self.check_labels is None else "checks " + "|".join(self.check_labels)) + ")"
        return self.mode

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "threshold": self.threshold, "min_vote_share": self.min_vote_share,
                "check_labels": None if self.check_labels is None else list(self.check_labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        known = {"mode", "threshold", "check_labels", "min_vote_share"}
        return cls(**{k: v for k, v in data.items() if k in known})

    def decide(self, item: Assessed) -> Decision:
        """The final label for one assessed post, with the reason in words."""
        bert = item.bert_label
        if self.mode == "explain_only":
            return Decision(bert, False, "explain-only policy: the label is always BERT's")
        if self.mode == "neighbours":
            return self._neighbours(item)
        if item.llm_label is None:
            return Decision(bert, False, "the LLM gave no valid answer, so BERT's label is kept")
        if item.llm_label == bert:
            return Decision(bert, False, "the LLM agrees with BERT")
        if self.mode == "alex":
            return self._alex(item)
        return self._gated(item)

    def _alex(self, item: Assessed) -> Decision:
        if self.check_labels is not None and item.bert_label not in self.check_labels:
            return Decision(item.bert_label, False, f"the ALEX policy checks only predictions of "
                            f"{', '.join(self.check_labels)}, so BERT's {item.bert_label} is kept")
        return Decision(item.llm_label or item.bert_label, True,
                        f"ALEX policy: the LLM rejected BERT's {item.bert_label} and chose {item.llm_label}")

    def _gated(self, item: Assessed) -> Decision:
        vote = item.neighbour_vote
        if item.bert_confidence >= self.threshold:
            return Decision(item.bert_label, False, f"BERT is confident ({item.bert_confidence:.2f} >= "
                            f"{self.threshold:.2f}), so the LLM's {item.llm_label} does not override it")
        if vote is None or vote.label != item.llm_label or vote.share < self.min_vote_share:
            majority = f"{vote.label}, {vote.count} of {vote.total}" if vote else "none retrieved"
            return Decision(item.bert_label, False, f"the neighbours' majority ({majority}) does not support "
                            f"the LLM's {item.llm_label}, so BERT's label is kept")
        return Decision(item.llm_label or item.bert_label, True,
                        f"BERT was unsure ({item.bert_confidence:.2f} < {self.threshold:.2f}) and both the LLM "
                        f"and {vote.count} of {vote.total} similar posts say {item.llm_label}")

    def _neighbours(self, item: Assessed) -> Decision:
        vote = item.neighbour_vote
        if vote is None or vote.label == item.bert_label:
            return Decision(item.bert_label, False, "the neighbours' majority agrees with BERT or is absent")
        if item.bert_confidence >= self.threshold or vote.share < self.min_vote_share:
            return Decision(item.bert_label, False, f"BERT ({item.bert_confidence:.2f}) outweighs the "
                            f"neighbours' {vote.label} ({vote.count} of {vote.total})")
        return Decision(vote.label, True, f"BERT was unsure ({item.bert_confidence:.2f} < {self.threshold:.2f}) "
                        f"and {vote.count} of {vote.total} similar posts are labelled {vote.label}")


DEFAULT_POLICY = Policy(mode="explain_only")


def candidate_policies(labels: Sequence[str], thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[Policy]:
    """Every policy calibration compares, safest first (ties go to the earlier one)."""
    candidates = [Policy(mode="explain_only")]
    candidates += [Policy(mode="gated", threshold=t) for t in thresholds]
    candidates += [Policy(mode="neighbours", threshold=t) for t in thresholds]
    candidates += [Policy(mode="alex", check_labels=(label,)) for label in labels]
    candidates.append(Policy(mode="alex", check_labels=None))
    return candidates


@dataclass(frozen=True)
class Calibration:
    policy: Policy
    metric: str
    baseline: float
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    n: int = 0
    win_rate: float | None = None


def policy_score(policy: Policy, items: Sequence[Assessed], gold: Sequence[str], labels: Sequence[str],
                 metric: str = "auto") -> float:
    predictions = [policy.decide(item).final_label for item in items]
    result = compute_metrics(list(gold), predictions, list(labels), default_positive_label(list(labels)))
    return float(result[primary_metric(metric, list(labels))])


def fast_score(gold: np.ndarray, predicted: np.ndarray, n_labels: int, metric: str, positive: int | None) -> float:
    """positive_f1 / micro_f1 / macro_f1 from label ids with numpy (thousands of bootstrap resamples)."""
    if metric == "micro_f1":
        return float(np.mean(gold == predicted))
    confusion = np.bincount(gold * n_labels + predicted, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    tp = np.diag(confusion).astype(float)
    denominator = confusion.sum(0) + confusion.sum(1)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(n_labels), where=denominator > 0)
    if metric == "positive_f1":
        return float(f1[positive if positive is not None else 1])
    return float(f1.mean())


def win_rate(candidate: Sequence[str], baseline: Sequence[str], gold: Sequence[str], labels: Sequence[str],
             metric: str, *, n_boot: int = 500, seed: int = 13) -> float:
    """Share of paired bootstrap resamples of the dev posts on which ``candidate`` scores above ``baseline``."""
    ids = {label: i for i, label in enumerate(labels)}
    g, a, b = (np.array([ids[v] for v in values]) for values in (gold, candidate, baseline))
    positive = default_positive_label(list(labels))
    pos = ids[positive] if positive is not None else None
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(n_boot):
        pick = rng.integers(0, len(g), len(g))
        wins += fast_score(g[pick], a[pick], len(labels), metric, pos) > fast_score(g[pick], b[pick], len(labels),
                                                                                      metric, pos)
    return wins / n_boot


def calibrate(items: Sequence[Assessed], gold: Sequence[str], labels: Sequence[str], *, metric: str = "auto",
              min_gain: float = 0.005, confidence: float = 0.95, n_boot: int = 500, seed: int = 13,
              thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> Calibration:
    """Score every candidate on the same assessed posts; the best one that beats BERT alone by ``min_gain``
    and in at least ``confidence`` of paired bootstrap resamples wins, else BERT's label is kept.

    The bootstrap guard matters: on a dev set of a few hundred posts a policy that changes a handful of
    labels can look better by chance and then lower F1 on new posts.
    """
    if len(items) != len(gold):
        raise ValueError(f"{len(items)} assessed posts but {len(gold)} gold labels")
    if not items:
        raise ValueError("calibration needs at least one labelled dev post")
    labels, metric = list(labels), primary_metric(metric, list(labels))
    candidates = candidate_policies(labels, thresholds)
    predictions = {p.name: [p.decide(item).final_label for item in items] for p in candidates}
    positive = default_positive_label(labels)
    scores = {name: float(compute_metrics(list(gold), pred, labels, positive)[metric])
              for name, pred in predictions.items()}
    baseline = scores[DEFAULT_POLICY.name]
    ranked = sorted(candidates, key=lambda p: -scores[p.name])  # stable: the safer of equal scores first
    for policy in ranked:
        if scores[policy.name] < baseline + min_gain:
            break
        rate = win_rate(predictions[policy.name], predictions[DEFAULT_POLICY.name], gold, labels, metric,
                        n_boot=n_boot, seed=seed)
        if rate >= confidence:
            return Calibration(policy=policy, metric=metric, baseline=baseline, score=scores[policy.name],
                               scores=scores, n=len(items), win_rate=rate)
    return Calibration(policy=DEFAULT_POLICY, metric=metric, baseline=baseline, score=baseline, scores=scores,
                       n=len(items))


def save_policy(directory: str | Path, calibration: Calibration, **details: Any) -> Path:
    """Store the chosen policy beside the index (atomically) so ``explain`` uses it by default."""
    path = Path(directory) / POLICY_FILE
    record = {"format": POLICY_FORMAT, "version": POLICY_VERSION, "policy": calibration.policy.to_dict(),
              "name": calibration.policy.name, "metric": calibration.metric, "baseline": calibration.baseline,
              "score": calibration.score, "n": calibration.n, "win_rate": calibration.win_rate,
              "scores": calibration.scores,
              "saved": datetime.now(UTC).isoformat(timespec="seconds"), **details}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_policy(directory: str | Path | None) -> Policy | None:
    """The calibrated policy stored in an index folder, or None when there is none."""
    if directory is None:
        return None
    path = Path(directory) / POLICY_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); run python -m agent calibrate again") from None
    if not isinstance(record, dict) or record.get("format") != POLICY_FORMAT or "policy" not in record:
        raise ValueError(f"{path} is not a policy file written by python -m agent calibrate")
    return Policy.from_dict(record["policy"])


def stratified_positions(labels: Sequence[str], n: int, *, seed: int) -> list[int]:
    """Positions of a fixed, label-stratified sample of ``n`` items (all of them when ``n`` is not smaller)."""
    if n < 1:
        raise ValueError(f"the sample size must be positive, got {n}")
    if n >= len(labels):
        return list(range(len(labels)))
    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    stratify = list(labels) if min(counts.values()) >= 2 and n >= len(counts) else None
    keep, _ = train_test_split(list(range(len(labels))), train_size=n, stratify=stratify, random_state=seed)
    return sorted(keep)
