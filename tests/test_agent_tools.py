"""The agent's tools called directly: typed arguments, text for the LLM, structured artifacts, clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.tools import make_tools
from tests.conftest_agent import LABELS, StubLLM, make_workspace, write_train_file

POST = "It did nothing for me, still in agony after hours"


@pytest.fixture()
def tools(tmp_path):
    workspace = make_workspace(tmp_path, StubLLM(label="positive"))
    return {t.name: t for t in make_tools(workspace)}, workspace


def call(tool, **args):
    message = tool.invoke({"name": tool.name, "args": args, "id": "call_1", "type": "tool_call"})
    return message.content, message.artifact


def test_seven_typed_tools_with_llm_facing_docstrings(tools):
    by_name, _ = tools
    assert set(by_name) == {"classify_post", "explain_post", "find_similar_posts", "augment_text", "balance_dataset",
                            "dataset_summary", "evaluate_model"}
    for tool in by_name.values():
        assert len(tool.description) > 60, tool.name
        assert tool.args, tool.name
    assert by_name["augment_text"].args["n"]["maximum"] == 10


def test_classify_post_labels_each_post_with_evidence(tools):
    content, artifact = call(tools[0]["classify_post"], texts=[POST, "This helped, I feel better, great"])
    assert [r["label"] for r in artifact["results"]] == ["negative", "positive"]
    assert set(artifact["results"][0]["probabilities"]) == set(LABELS)
    assert {w["word"] for w in artifact["results"][0]["words"]} >= {"nothing", "agony"}
    assert content.startswith("Post 1: negative")


def test_explain_post_returns_the_explanation_object(tools):
    content, artifact = call(tools[0]["explain_post"], text=POST)
    item = artifact["explanation"]
    assert artifact["kind"] == "explanation"
    assert item["bert_label"] == "negative" and item["llm_label"] == "positive"
    assert item["final_label"] == "negative" and item["changed"] is False  # explain-only policy by default
    assert item["review_flag"] is True
    assert "Label: negative" in content and "LLM verdict: disagree" in content


def test_explain_post_caches_follow_ups(tools):
    by_name, workspace = tools
    call(by_name["explain_post"], text=POST)
    calls = len(workspace.llm.calls)
    call(by_name["explain_post"], text=POST)
    assert len(workspace.llm.calls) == calls


def test_find_similar_posts_and_augment(tools):
    _, artifact = call(tools[0]["find_similar_posts"], text=POST, k=2)
    assert len(artifact["neighbours"]) == 2
    assert artifact["neighbours"][0]["text"] == "It did nothing for me, still in agony"
    _, artifact = call(tools[0]["augment_text"], text="The medicine helped my pain a lot and I feel better", n=3,
                       seed=1)
    assert 1 <= len(artifact["variants"]) <= 3
    assert all(v != artifact["text"] for v in artifact["variants"])
    _, again = call(tools[0]["augment_text"], text="The medicine helped my pain a lot and I feel better", n=3, seed=1)
    assert again["variants"] == artifact["variants"]


def test_arguments_are_validated(tools):
    with pytest.raises(ValidationError):
        call(tools[0]["augment_text"], text=POST, n=50)
    with pytest.raises(ValidationError):
        call(tools[0]["classify_post"], texts=[])


def test_file_tools_default_to_the_workspace_data(tools, tmp_path):
    by_name, workspace = tools
    _, summary = call(by_name["dataset_summary"])
    assert summary["rows"] == 9 and summary["label_counts"] == {"negative": 3, "neutral": 2, "positive": 4}
    _, evaluation = call(by_name["evaluate_model"])
    assert evaluation["metrics"]["n"] == 9 and 0 <= evaluation["metrics"]["macro_f1"] <= 1
    source = workspace.parts.train_file
    before = source.read_bytes()
    _, balanced = call(by_name["balance_dataset"], path=str(source), seed=0)
    assert balanced["after"] == {"negative": 4, "neutral": 4, "positive": 4}
    assert source.read_bytes() == before
    assert balanced["output"].startswith(str(workspace.cache_dir))


def test_file_tools_refuse_paths_outside_the_allowed_folders(tools, tmp_path_factory):
    outside = write_train_file(tmp_path_factory.mktemp("elsewhere"))
    with pytest.raises(ValueError, match="only reads data files"):
        call(tools[0]["dataset_summary"], path=str(outside))
    with pytest.raises(ValueError, match="CSV, TSV or JSONL"):
        call(tools[0]["dataset_summary"], path="/etc/passwd")


def test_evaluate_rejects_foreign_labels(tools, tmp_path):
    bad = write_train_file(tmp_path, [("some text here", "spam"), ("other text here", "ham")], name="other.tsv")
    with pytest.raises(ValueError, match="not in the label set"):
        call(tools[0]["evaluate_model"], path=str(bad))
