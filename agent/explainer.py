"""ALEX's second half, grounded: BERT's label checked and explained by a local LLM shown retrieved examples.

For one post: BERT's probabilities (and the words that drove them, by occlusion), the k most similar labelled
posts, the LLM's schema-constrained answer, the policy's decision, and an explanation assembled from that
evidence, so it stays faithful even when the small LLM's prose is weak. Disagreements are flagged for review.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.attribution import MAX_VARIANTS, WordWeight, occlusion_probabilities, rank_segments
from agent.llm import ChatLLM, LLMError
from agent.policy import DEFAULT_POLICY, NeighbourVote, Policy, neighbour_vote
from agent.prompts import (
    MAX_EXAMPLE_WORDS,
    MAX_POST_WORDS,
    TaskSpec,
    answer_schema,
    build_messages,
    clean_untrusted,
    truncate_words,
)
from agent.retrieval import ExampleIndex, Neighbour

logger = logging.getLogger(__name__)

VERDICTS = ("agree", "disagree", "unavailable")


@dataclass(frozen=True)
class Evidence:
    """What the explanation rests on: the retrieved examples' ids and the words that drove BERT."""

    neighbour_ids: tuple[str, ...] = ()
    words: tuple[WordWeight, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """Everything known about one post's label; ``to_dict`` for JSON, ``to_text`` for people and agents."""

    text: str
    labels: tuple[str, ...]
    bert_label: str
    bert_probabilities: dict[str, float]
    neighbours: tuple[Neighbour, ...]
    neighbour_vote: NeighbourVote | None
    llm_label: str | None
    llm_verdict: str
    llm_explanation: str
    llm_error: str | None
    final_label: str
    changed: bool
    reason: str
    explanation: str
    evidence: Evidence
    review_flag: bool
    review_reasons: tuple[str, ...]
    policy: str
    truncated: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bert_confidence(self) -> float:
        return float(self.bert_probabilities[self.bert_label])

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        vote = self.neighbour_vote
        data["neighbour_vote"] = None if vote is None else {**dataclasses.asdict(vote), "share": round(vote.share, 4)}
        data["labels"] = list(self.labels)
        data["review_reasons"] = list(self.review_reasons)
        return data

    def to_text(self) -> str:
        return render_text(self)


@dataclass(frozen=True, kw_only=True)
class ExplainerConfig:
    """``k`` neighbours, ``top_words`` attributed words, prompt limits, and when to flag for review."""

    k: int = 5
    top_words: int = 5
    max_variants: int = MAX_VARIANTS
    max_post_words: int = MAX_POST_WORDS
    max_example_words: int = MAX_EXAMPLE_WORDS
    review_confidence: float = 0.6
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("k", "top_words", "max_variants"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be zero or more, got {getattr(self, name)}")
        for name in ("max_post_words", "max_example_words"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.review_confidence <= 1.0:
            raise ValueError(f"review_confidence must be in [0, 1], got {self.review_confidence}")


@dataclass(frozen=True)
class _LLMResult:
    label: str | None = None
    explanation: str = ""
    error: str | None = None
    seconds: float = 0.0


class Explainer:
    """Classifier (``labels`` + ``predict_proba``), example index, LLM and policy, each optional but the first."""

    def __init__(self, classifier: Any, index: ExampleIndex | None = None, llm: ChatLLM | None = None,
                 policy: Policy | None = None, *, task: TaskSpec | None = None,
                 config: ExplainerConfig | None = None) -> None:
        self.classifier = classifier
        self.labels: tuple[str, ...] = tuple(str(label) for label in classifier.labels)
        if len(self.labels) < 2:
            raise ValueError(f"the classifier needs at least two labels, has {list(self.labels)}")
        self.index = index
        self.llm = llm
        self.policy = policy or DEFAULT_POLICY
        self.task = (task or TaskSpec.default(self.labels)).for_labels(self.labels)
        self.config = config or ExplainerConfig()
        self.schema = answer_schema(self.labels)
        if index is not None and not set(index.labels) <= set(self.labels):
            raise ValueError(f"the example index has labels {index.labels} that the classifier does not know "
                             f"({list(self.labels)}): it was built for another task")

    def explain(self, text: str) -> Explanation:
        """Label, evidence, LLM verdict, decision and explanation for one post."""
        text = _check_text(text)
        start = time.perf_counter()
        probabilities, segments, occluded = occlusion_probabilities(
            self.classifier, text, max_variants=self.config.max_variants if self.config.top_words else 0)
        bert_label = self._decide(probabilities[None, :])[0]
        words = rank_segments(segments, probabilities, occluded, self.labels.index(bert_label), self.config.top_words)
        classified = time.perf_counter()
        neighbours = self._search([text])[0]
        timings = {"classify": classified - start, "retrieve": time.perf_counter() - classified}
        return self._assess(text, probabilities, bert_label, words, neighbours, timings)

    def explain_many(self, texts: Sequence[str], *, progress: bool = False) -> list[Explanation]:
        """Batched classification and retrieval, then one LLM call per post (no word attribution)."""
        texts = [_check_text(t) for t in texts]
        if not texts:
            return []
        start = time.perf_counter()
        probabilities = np.asarray(self.classifier.predict_proba(texts), dtype=np.float64)
        bert_labels = self._decide(probabilities)
        classified = time.perf_counter()
        neighbours = self._search(texts)
        shared = {"classify": (classified - start) / len(texts),
                  "retrieve": (time.perf_counter() - classified) / len(texts)}
        results = []
        for i, text in enumerate(texts):
            results.append(self._assess(text, probabilities[i], bert_labels[i], [], neighbours[i], dict(shared)))
            if progress and (i + 1) % 25 == 0:
                logger.info("explained %d/%d posts", i + 1, len(texts))
        return results

    def apply_policy(self, explanation: Explanation, policy: Policy) -> Explanation:
        """The same evidence and LLM answer under another policy (calibration compares policies this way)."""
        decision = policy.decide(explanation)
        updated = dataclasses.replace(explanation, final_label=decision.final_label, changed=decision.changed,
                                      reason=decision.reason, policy=policy.name)
        return self._finish(updated)

    # -- steps ----------------------------------------------------------------------------------------------
    def _decide(self, probabilities: np.ndarray) -> list[str]:
        """BERT's labels: the classifier's own rule (a tuned binary threshold) when it has one, else arg-max."""
        decide = getattr(self.classifier, "decide", None)
        if callable(decide):
            return [str(label) for label in decide(np.asarray(probabilities))]
        return [self.labels[i] for i in np.asarray(probabilities).argmax(1)]

    def _search(self, texts: list[str]) -> list[list[Neighbour]]:
        if self.index is None or self.config.k == 0:
            return [[] for _ in texts]
        return self.index.search(texts, self.config.k)

    def _ask_llm(self, text: str, bert_label: str, probabilities: dict[str, float], neighbours: Sequence[Neighbour],
                 vote: NeighbourVote | None) -> _LLMResult:
        if self.llm is None:
            return _LLMResult(error="no LLM configured")
        messages = build_messages(self.task, text, bert_label, probabilities, neighbours, vote,
                                  max_post_words=self.config.max_post_words,
                                  max_example_words=self.config.max_example_words)
        start = time.perf_counter()
        try:
            answer = self.llm.complete_json(messages, self.schema, max_tokens=self.config.max_tokens)
        except LLMError as err:
            logger.warning("LLM answer unusable: %s", err)
            return _LLMResult(error=str(err), seconds=time.perf_counter() - start)
        seconds = time.perf_counter() - start
        label = answer.get("label") if isinstance(answer, dict) else None
        if label not in self.labels:
            return _LLMResult(error=f"the LLM answered an unknown label {label!r}", seconds=seconds)
        return _LLMResult(label=label, explanation=clean_untrusted(str(answer.get("explanation", ""))),
                          seconds=seconds)

    def _assess(self, text: str, probabilities: np.ndarray, bert_label: str, words: list[WordWeight],
                neighbours: list[Neighbour], timings: dict[str, float]) -> Explanation:
        probs = {label: round(float(p), 4) for label, p in zip(self.labels, probabilities, strict=True)}
        vote = neighbour_vote(neighbours)
        answer = self._ask_llm(text, bert_label, probs, neighbours, vote)
        timings["llm"] = answer.seconds
        timings["total"] = sum(timings.values())
        verdict = "unavailable" if answer.label is None else ("agree" if answer.label == bert_label else "disagree")
        draft = Explanation(
            text=text, labels=self.labels, bert_label=bert_label, bert_probabilities=probs,
            neighbours=tuple(neighbours), neighbour_vote=vote, llm_label=answer.label, llm_verdict=verdict,
            llm_explanation=answer.explanation, llm_error=answer.error, final_label=bert_label, changed=False,
            reason="", explanation="", evidence=Evidence(tuple(n.id for n in neighbours), tuple(words)),
            review_flag=False, review_reasons=(), policy=self.policy.name,
            truncated=is_truncated(text, self.config.max_post_words), timings=timings,
        )
        return self.apply_policy(draft, self.policy)

    def _finish(self, item: Explanation) -> Explanation:
        reasons = review_reasons(item, self.config.review_confidence, llm_expected=self.llm is not None)
        return dataclasses.replace(item, explanation=compose_explanation(item), review_flag=bool(reasons),
                                   review_reasons=tuple(reasons))


def is_truncated(text: str, max_words: int) -> bool:
    """Whether the LLM saw only the start of the post."""
    cleaned = clean_untrusted(text)
    return truncate_words(cleaned, max_words)[0] != cleaned


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"a post must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the post is empty")
    return text


def review_reasons(item: Explanation, min_confidence: float, *, llm_expected: bool = True) -> list[str]:
    """Why a person should look at this label: any disagreement, an unsure BERT, a missing LLM answer."""
    reasons = []
    vote = item.neighbour_vote
    if vote is not None and vote.label != item.bert_label:
        reasons.append(f"BERT ({item.bert_label}) and the neighbours' majority ({vote.label}, {vote.count} of "
                       f"{vote.total}) disagree")
    if item.llm_label is not None and item.llm_label != item.bert_label:
        reasons.append(f"the LLM disagrees with BERT: it says {item.llm_label}")
    if item.llm_label is None and llm_expected:
        reasons.append(f"the LLM gave no valid answer ({item.llm_error})")
    if item.bert_confidence < min_confidence:
        reasons.append(f"BERT is unsure (probability {item.bert_confidence:.2f} < {min_confidence:.2f})")
    if item.changed:
        reasons.append(f"the label was changed from {item.bert_label} to {item.final_label}")
    return reasons


def compose_explanation(item: Explanation) -> str:
    """A short explanation built from the evidence itself, with the LLM's sentence quoted as one part."""
    parts = [f"Final label: {item.final_label}."]
    words = ", ".join(f'"{w.word}"' for w in item.evidence.words)
    parts.append(f"BERT predicted {item.bert_label} with probability {item.bert_confidence:.2f}"
                 + (f"; the words that drove it most: {words}." if words else "."))
    vote = item.neighbour_vote
    if vote is not None:
        ids = ", ".join(f"#{n.id}" for n in item.neighbours if n.label == vote.label)
        parts.append(f"{vote.count} of the {vote.total} most similar labelled posts ({ids}) are labelled {vote.label}.")
    if item.llm_label is not None:
        stance = "agrees with BERT" if item.llm_verdict == "agree" else f"disagrees and suggests {item.llm_label}"
        parts.append(f"The LLM {stance}" + (f': "{item.llm_explanation}"' if item.llm_explanation else "."))
    if item.changed:
        parts.append(f"The label was changed from {item.bert_label}: {item.reason}.")
    return " ".join(parts)


def render_text(item: Explanation) -> str:
    """Plain-text report for the CLI and for the agent's LLM to read."""
    status = f"changed from BERT's {item.bert_label}" if item.changed else "BERT's label, kept"
    probs = ", ".join(f"{label} {p:.2f}" for label, p in item.bert_probabilities.items())
    lines = [f"Label: {item.final_label} ({status}; policy {item.policy})",
             f"BERT: {item.bert_label} ({probs})"]
    if item.evidence.words:
        lines.append("Words that drove BERT: " + ", ".join(f'"{w.word}" ({w.weight:+.2f})' for w in item.evidence.words))
    if item.neighbours:
        lines.append(f"Similar labelled posts (k={len(item.neighbours)}):")
        lines.extend(f"  [#{n.id}] {n.label} (similarity {n.similarity:.2f}): {_short(n.text)}" for n in item.neighbours)
    if item.neighbour_vote is not None:
        vote = item.neighbour_vote
        lines.append(f"Neighbour majority: {vote.label} ({vote.count} of {vote.total})")
    llm = f"{item.llm_verdict}" + (f" (label {item.llm_label})" if item.llm_label else f" ({item.llm_error})")
    lines.append(f"LLM verdict: {llm}")
    lines.append(f"Decision: {item.reason}")
    lines.append(f"Explanation: {item.explanation}")
    lines.append("Review: " + ("FLAGGED - " + "; ".join(item.review_reasons) if item.review_flag else "not needed"))
    if item.truncated:
        lines.append("Note: the post was cut for the LLM prompt (it saw the first words only).")
    return "\n".join(lines)


def _short(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
