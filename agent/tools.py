"""The agent's tools: LangChain tools with typed arguments and docstrings written for the LLM that reads them.

Each tool returns ``(text, artifact)`` (``response_format="content_and_artifact"``): the text is what a model
reads, the artifact is the structured result (an ``Explanation`` as a dict, metrics, counts) that the answer
composer and the UI use. ``make_tools(workspace)`` binds the tools to the current classifier, index and LLM.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import numpy as np
from langchain_core.tools import BaseTool, tool
from pydantic import Field

from agent.attribution import occlusion_probabilities, rank_segments
from agent.datafiles import balance_file, output_path, read_labelled, summarize
from agent.workspace import Workspace

logger = logging.getLogger(__name__)

MAX_POSTS = 10
MAX_POST_CHARS = 20_000
TOP_WORDS = 5

Post = Annotated[str, Field(min_length=1, max_length=MAX_POST_CHARS,
                            description="the post text exactly as the user wrote it")]


def _short(text: str, limit: int = 140) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _probabilities_text(probabilities: dict[str, float]) -> str:
    return ", ".join(f"{label} {p:.2f}" for label, p in probabilities.items())


def bert_label(classifier: Any, labels: tuple[str, ...], probabilities: np.ndarray) -> str:
    """The classifier's own decision rule (a tuned binary threshold) when it has one, else the arg-max."""
    decide = getattr(classifier, "decide", None)
    if callable(decide):
        return str(decide(np.asarray(probabilities)[None, :])[0])
    return labels[int(np.argmax(probabilities))]


def evaluate_classifier(classifier: Any, labels: tuple[str, ...], texts: list[str], gold: list[str]) -> dict[str, Any]:
    """SMM4H metrics of the classifier's own decisions (its ``evaluate`` when it has one)."""
    from classifiers.metrics import compute_metrics, default_positive_label

    evaluate = getattr(classifier, "evaluate", None)
    if callable(evaluate):
        return evaluate(texts, gold)
    probabilities = np.asarray(classifier.predict_proba(texts))
    predicted = [bert_label(classifier, labels, row) for row in probabilities]
    return compute_metrics(gold, predicted, list(labels), default_positive_label(list(labels), gold))


def classify_texts(workspace: Workspace, texts: list[str]) -> list[dict[str, Any]]:
    """BERT's label, probabilities and the words that drove it, for each post (no LLM)."""
    explainer = workspace.parts.explainer
    results = []
    for text in texts:
        base, segments, occluded = occlusion_probabilities(explainer.classifier, text)
        label = bert_label(explainer.classifier, explainer.labels, base)
        words = rank_segments(segments, base, occluded, explainer.labels.index(label), TOP_WORDS)
        results.append({"text": text, "label": label,
                        "probabilities": {lab: round(float(p), 4) for lab, p in zip(explainer.labels, base,
                                                                                       strict=True)},
                        "words": [{"word": w.word, "weight": w.weight} for w in words]})
    return results


def make_tools(workspace: Workspace) -> list[BaseTool]:
    """The seven tools, bound to ``workspace`` (its current parts are read at each call)."""

    @tool(response_format="content_and_artifact")
    def classify_post(texts: Annotated[list[Post], Field(min_length=1, max_length=MAX_POSTS)]) -> tuple[str, dict]:
        """Label one or more health-related social-media posts with the trained classifier (BERT).

        Use it to label posts or compare the labels of several posts. Returns, per post, the label, the
        probability of every label and the words that drove the label. The LLM does not check these labels:
        use explain_post when the user asks why, or wants the label checked.
        """
        results = classify_texts(workspace, list(texts))
        lines = [f'Post {i}: {r["label"]} ({_probabilities_text(r["probabilities"])}); words: '
                 + (", ".join(f'"{w["word"]}"' for w in r["words"]) or "none") + f' — "{_short(r["text"], 80)}"'
                 for i, r in enumerate(results, start=1)]
        return "\n".join(lines), {"kind": "classification", "results": results}

    @tool(response_format="content_and_artifact")
    def explain_post(text: Post) -> tuple[str, dict]:
        """Label a post and explain the label with evidence (the full ALEX check).

        BERT labels the post; the most similar labelled posts are retrieved; a local LLM reads the post, BERT's
        label and those examples and says whether the label is right; a decision policy sets the final label.
        Use it for "why?", "explain", "are you sure?" and "what would change your mind?".
        Returns the final label, whether the LLM changed BERT's label, the evidence and a review flag.
        """
        explanation = workspace.explain(text)
        return explanation.to_text(), {"kind": "explanation", "explanation": explanation.to_dict()}

    @tool(response_format="content_and_artifact")
    def find_similar_posts(text: Post, k: Annotated[int, Field(ge=1, le=20, description="how many")] = 5
                           ) -> tuple[str, dict]:
        """Find the labelled training posts most similar to a post (FAISS search over sentence embeddings).

        Returns each similar post with its label and cosine similarity, and the majority label among them.
        """
        index = workspace.parts.index
        if index is None:
            raise ValueError("no example index is loaded, so similar posts cannot be searched")
        neighbours = index.search(text, k)
        rows = [{"id": n.id, "label": n.label, "similarity": round(n.similarity, 4), "text": n.text}
                for n in neighbours]
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["label"]] = counts.get(row["label"], 0) + 1
        lines = [f'[#{r["id"]}] {r["label"]} (similarity {r["similarity"]:.2f}): {_short(r["text"])}' for r in rows]
        return "\n".join(lines) or "no similar posts", {"kind": "neighbours", "text": text, "neighbours": rows,
                                                          "label_counts": counts}

    @tool(response_format="content_and_artifact")
    def augment_text(text: Post, n: Annotated[int, Field(ge=1, le=10, description="how many versions")] = 3,
                     seed: Annotated[int, Field(ge=0, description="random seed; the same seed gives the same "
                                                                 "versions")] = 0) -> tuple[str, dict]:
        """Write augmented versions of a post: ALEX-style small edits (typos, synonyms, contractions) that
        keep its meaning and label. Used to enlarge minority classes of a training set.
        """
        variants = workspace.augmenter().augment(text, n, seed=seed)
        if not variants:
            raise ValueError("this post has too few changeable words to augment")
        lines = [f"{i}. {v}" for i, v in enumerate(variants, start=1)]
        return "\n".join(lines), {"kind": "augmentation", "text": text, "variants": variants, "seed": seed}

    @tool(response_format="content_and_artifact")
    def balance_dataset(path: Annotated[str | None, Field(description="labelled CSV/TSV/JSONL file; empty: the "
                                                                        "current training file")] = None,
                        seed: Annotated[int, Field(ge=0)] = 0) -> tuple[str, dict]:
        """Balance the classes of a labelled data file: augment the smaller classes up to the largest one.

        Writes a new file (the input is never changed) with provenance columns, and returns its path and the
        label counts before and after.
        """
        source = workspace.resolve_path(path, default=workspace.parts.train_file)
        target = output_path(source, workspace.cache_dir / "outputs", f"balanced-seed{seed}")
        outcome = balance_file(source, target, seed=seed, augmenters=workspace.augmenters)
        text = (f"Balanced {source.name}: before {outcome.before}, after {outcome.after}; "
                f"written to {outcome.output}")
        return text, {"kind": "balance", **outcome.to_dict()}

    @tool(response_format="content_and_artifact")
    def dataset_summary(path: Annotated[str | None, Field(description="data file; empty: the current training "
                                                                        "file")] = None) -> tuple[str, dict]:
        """Describe a labelled data file: rows, text and label columns, label counts and post lengths."""
        source = workspace.resolve_path(path, default=workspace.parts.train_file)
        summary = summarize(source)
        text = (f"{source.name}: {summary.rows} rows; text column {summary.text_column!r}, label column "
                f"{summary.label_column!r}; label counts {summary.label_counts}; mean {summary.mean_words} words")
        return text, {"kind": "summary", **summary.to_dict()}

    @tool(response_format="content_and_artifact")
    def evaluate_model(path: Annotated[str | None, Field(description="labelled test file; empty: the current "
                                                                       "test file")] = None) -> tuple[str, dict]:
        """Measure the current classifier on a labelled file: accuracy, micro/macro F1, per-class scores and
        the confusion matrix. The file's labels must be the classifier's labels.
        """
        parts = workspace.parts
        source = workspace.resolve_path(path, default=parts.test_file)
        table, notes = read_labelled(source, labels=parts.explainer.labels)
        metrics = evaluate_classifier(parts.classifier, parts.explainer.labels, table.texts, table.labels)
        text = (f"{source.name} (n={metrics['n']}): accuracy {metrics['accuracy']:.3f}, micro-F1 "
                f"{metrics['micro_f1']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
        return text, {"kind": "evaluation", "path": str(source), "metrics": metrics, "warnings": notes}

    return [classify_post, explain_post, find_similar_posts, augment_text, balance_dataset, dataset_summary,
            evaluate_model]
