"""The agent's final answers, composed from the tools' structured results, never from a small model's prose.

A classify or explain answer always states the final label, whether the LLM changed BERT's label, and the
evidence (probabilities, the words that drove BERT, similar labelled posts, the LLM's verdict); a small
model's sentence is quoted as one piece of evidence and cannot contradict the structured result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.router_prompts import METHOD, RESPONSES


def _short(text: str, limit: int = 110) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _probabilities(probabilities: Mapping[str, float]) -> str:
    return ", ".join(f"{label} {p:.2f}" for label, p in sorted(probabilities.items(), key=lambda kv: -kv[1]))


def _words(words: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f'"{w["word"]}" ({w["weight"]:+.2f})' for w in words)


def change_sentence(item: Mapping[str, Any]) -> str:
    bert, final = item["bert_label"], item["final_label"]
    if item["changed"]:
        return f"The LLM changed BERT's label from {bert} to {final} ({item['reason']})."
    verdict = item.get("llm_verdict")
    if verdict == "agree":
        return f"The LLM did not change BERT's label: it agrees with {bert}."
    if verdict == "disagree":
        return (f"The LLM did not change BERT's label: it suggested {item.get('llm_label')}, but the decision "
                f"policy kept {bert} ({item['reason']}).")
    return f"The LLM did not change BERT's label (it gave no usable answer: {item.get('llm_error') or 'unknown'})."


def _without_label(explanation: str, label: str) -> str:
    """The explainer's text opens with "Final label: X." which the answer has just said."""
    opening = f"Final label: {label}."
    return explanation[len(opening):].strip() if explanation.startswith(opening) else explanation


def _neighbour_refs(neighbours: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    return ", ".join(f"#{n['id']} {n['label']} ({n['similarity']:.2f})" for n in neighbours[:limit])


def explanation_answer(item: Mapping[str, Any], focus: str | None = None) -> str:
    """Label, change, the explanation, the evidence, review flag; ``focus="counterfactual"`` adds what would
    change the label. Texts of the similar posts are left to "which similar posts?" (and the demo's table)."""
    lines = [f"**Final label: {item['final_label']}**", change_sentence(item), "",
             f"**Why:** {_without_label(item['explanation'], item['final_label'])}", "", "**Evidence**",
             f"- BERT's probabilities: {_probabilities(item['bert_probabilities'])}"]
    words = item.get("evidence", {}).get("words") or []
    if words:
        lines.append(f"- words that drove BERT's label (its probability drops without them): {_words(words)}")
    vote = item.get("neighbour_vote")
    if vote:
        lines.append(f"- similar labelled posts: {vote['count']} of {vote['total']} are labelled {vote['label']}: "
                     f"{_neighbour_refs(item.get('neighbours') or [])}")
    if item.get("llm_label"):
        lines.append(f"- the LLM's verdict: {item.get('llm_verdict')} (it says {item['llm_label']})")
    if focus == "counterfactual":
        lines += ["", counterfactual_answer(item)]
    review = item.get("review_reasons") or []
    lines += ["", "**Review:** " + ("flagged for a person to check: " + "; ".join(review) if item.get("review_flag")
                                    else "not needed")]
    return "\n".join(lines)


def counterfactual_answer(item: Mapping[str, Any]) -> str:
    """What evidence would have to differ for another label, read off the same evidence."""
    label = item["final_label"]
    ranked = sorted(item["bert_probabilities"].items(), key=lambda kv: -kv[1])
    runner, runner_p = next(((lab, p) for lab, p in ranked if lab != label), (None, 0.0))
    margin = item["bert_probabilities"].get(label, 0.0) - runner_p
    parts = [f"**What would change my mind:** the closest other label is {runner} (probability {runner_p:.2f}, "
             f"{margin:.2f} behind {label})."]
    words = item.get("evidence", {}).get("words") or []
    if words:
        parts.append(f"The label rests most on {_words(words[:3])}; a post without those words, or saying the "
                     f"opposite, would move BERT towards {runner}.")
    others = [n for n in item.get("neighbours") or [] if n["label"] != label]
    if others:
        parts.append(f"{len(others)} of the similar posts are labelled otherwise (e.g. #{others[0]['id']}, "
                     f"{others[0]['label']}); more posts like them would shift the evidence.")
    parts.append(f"Under the decision policy {item.get('policy')}, the LLM's disagreement alone "
                 + ("never changes the label." if str(item.get("policy")).startswith("explain_only")
                    else "can change the label only as that policy allows."))
    return " ".join(parts)


def classification_answer(results: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for i, r in enumerate(results, start=1):
        head = f"**Final label: {r['label']}**" if len(results) == 1 else f"**Post {i}: {r['label']}** — \"{_short(r['text'], 70)}\""
        lines.append(head)
        lines.append(f"BERT's probabilities: {_probabilities(r['probabilities'])}.")
        if r.get("words"):
            lines.append(f"Evidence: the words that drove it: {_words(r['words'])}.")
    lines.append("The LLM did not change BERT's label: this quick answer is BERT's alone. Ask \"why?\" for the "
                 "full check with similar labelled posts and the local LLM.")
    return "\n".join(lines)


def neighbours_answer(artifact: Mapping[str, Any]) -> str:
    rows = artifact.get("neighbours") or []
    if not rows:
        return "No similar labelled posts were found."
    counts = ", ".join(f"{label} {n}" for label, n in sorted(artifact["label_counts"].items(), key=lambda kv: -kv[1]))
    lines = [f"The {len(rows)} most similar labelled posts to \"{_short(artifact['text'], 70)}\" ({counts}):", "",
             "| # | label | similarity | post |", "|---|---|---|---|"]
    lines += [f"| {r['id']} | {r['label']} | {r['similarity']:.2f} | {_short(r['text'], 100).replace('|', '/')} |"
              for r in rows]
    return "\n".join(lines)


def augmentation_answer(artifact: Mapping[str, Any]) -> str:
    lines = [f"{len(artifact['variants'])} augmented versions of \"{_short(artifact['text'], 70)}\" "
             f"(seed {artifact['seed']}; small edits that keep the label):"]
    lines += [f"{i}. {v}" for i, v in enumerate(artifact["variants"], start=1)]
    return "\n".join(lines)


def balance_answer(artifact: Mapping[str, Any]) -> str:
    lines = [f"Balanced {artifact['source']}: label counts {artifact['before']} → {artifact['after']} "
             f"(augmented rows added: {artifact['augmented'] or 'none'}).", f"Written to `{artifact['output']}`."]
    if artifact.get("shortfall"):
        lines.append(f"Some classes stayed short of the target: {artifact['shortfall']}.")
    return "\n".join(lines)


def summary_answer(artifact: Mapping[str, Any]) -> str:
    return (f"{artifact['path']}: {artifact['rows']} usable rows; text column `{artifact['text_column']}`, label "
            f"column `{artifact['label_column']}`; label counts {artifact['label_counts'] or 'none'}; posts average "
            f"{artifact['mean_words']} words (longest {artifact['max_words']}).")


def evaluation_answer(artifact: Mapping[str, Any]) -> str:
    m = artifact["metrics"]
    lines = [f"On {artifact['path']} (n={m['n']}): accuracy {m['accuracy']:.3f}, micro-F1 {m['micro_f1']:.3f}, "
             f"macro-F1 {m['macro_f1']:.3f}" + (f", positive-class F1 {m['positive_f1']:.3f}" if "positive_f1" in m
                                               else "") + ".",
             "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [f"| {label} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
              for label, r in m["per_class"].items()]
    return "\n".join(lines)


COMPOSERS = {"classification": lambda a, f: classification_answer(a["results"]),
             "explanation": lambda a, f: explanation_answer(a["explanation"], f),
             "neighbours": lambda a, f: neighbours_answer(a), "augmentation": lambda a, f: augmentation_answer(a),
             "balance": lambda a, f: balance_answer(a), "summary": lambda a, f: summary_answer(a),
             "evaluation": lambda a, f: evaluation_answer(a)}


def tool_answer(artifact: Mapping[str, Any] | None, focus: str | None = None) -> str:
    """The final answer for a tool's result (or its error)."""
    if not artifact:
        return "The tool returned no result. " + RESPONSES["capabilities"]
    if artifact.get("kind") == "error":
        return f"I could not do that: {artifact['message']}"
    return COMPOSERS[artifact["kind"]](artifact, focus)


def direct_answer(topic: str | None, about: Mapping[str, Any]) -> str:
    """Answers that need no tool: the method, what the assistant can do, a refusal of injected instructions."""
    if topic == "method":
        return METHOD.format(policy=about.get("policy", "explain-only"), classifier=about.get("classifier", "?"),
                             llm=about.get("llm", "?"))
    return RESPONSES.get(topic or "off_topic", RESPONSES["off_topic"])
