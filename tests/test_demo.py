"""The Gradio app without a browser: importable without launching, chat steps, panels, friendly upload errors."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest

import demo
from agent import build_agent
from tests.conftest_agent import StubLLM, make_workspace, write_train_file

POST = "It did nothing for me, still in agony after hours"


@pytest.fixture()
def app_and_tabs(tmp_path):
    workspace = make_workspace(tmp_path, StubLLM(label="positive"))
    built = demo.build_demo(lambda progress: build_agent(workspace=workspace))
    app = built.alex_app
    app.preparation.result(timeout=60)
    return app, demo.TabHandlers(app), tmp_path


def test_build_demo_is_importable_without_launching():
    built = demo.build_demo(lambda progress: pytest.fail("the agent must not be built before launch"))
    assert isinstance(built, gr.Blocks)
    assert built.alex_app.preparation.state() == (0.0, "waiting to start", False)
    ids = {getattr(block, "elem_id", None) for block in built.blocks.values()}
    assert {"chatbot", "prob-plot", "neighbours", "explanation", "review-flag", "status"} <= ids


def test_chat_streams_tool_steps_and_fills_the_panel(app_and_tabs):
    app, _, _ = app_and_tabs
    request = gr.Request(username=None)
    outputs = list(app.chat(POST, [], request))
    messages, probs, neighbours, explanation, review = outputs[-1]
    titles = [m.metadata.get("title") for m in messages if m.metadata]
    assert titles == ["Route: explain_post", "Tool: explain_post"]
    assert all(m.metadata.get("status") == "done" for m in messages if m.metadata)
    assert "**Final label: negative**" in messages[-1].content
    panel = next(o for o in outputs if isinstance(o[1], pd.DataFrame))
    assert list(panel[1]["label"]) == ["negative", "neutral", "positive"]
    assert len(panel[2]) == 3 and "Final label: negative" in panel[3] and "Flagged for review" in panel[4]


def test_chat_keeps_the_thread_across_turns(app_and_tabs):
    app, _, _ = app_and_tabs
    request = gr.Request(username=None)
    first = list(app.chat(POST, [], request))[-1][0]
    history = [{"role": "user", "content": POST}] + [{"role": "assistant", "content": m.content} for m in first]
    second = list(app.chat("which similar posts?", history, request))[-1][0]
    assert "It did nothing for me, still in agony" in second[-1].content


def test_panel_values_by_result_kind():
    assert demo.panel_values(None) == (gr.skip(),) * 4
    classification = {"kind": "classification", "results": [{"text": "x", "label": "positive", "words": [],
                                                             "probabilities": {"negative": 0.2, "positive": 0.8}}]}
    probs, neighbours, text, review = demo.panel_values(classification)
    assert probs["probability"].tolist() == [0.2, 0.8] and "Final label: positive" in text


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"colour\tsize\nred\t3\nblue\t4\n", "cannot tell which column holds the text"),
    (b"\x00\x01\x02binary\x00", "binary"),
])
def test_bad_uploads_give_a_message_not_a_traceback(app_and_tabs, content, problem):
    _, tabs, tmp_path = app_and_tabs
    bad = tmp_path / "upload.csv"
    bad.write_bytes(content)
    result = demo.friendly(3)(tabs.balance)(str(bad), "max", 0)
    assert result[:2] == (gr.skip(), gr.skip())
    assert result[2].startswith("**Problem:**") and problem in result[2]
    assert "Traceback" not in result[2]


def test_huge_upload_is_refused_before_reading(app_and_tabs, monkeypatch):
    _, tabs, tmp_path = app_and_tabs
    monkeypatch.setattr("agent.datafiles.MAX_UPLOAD_BYTES", 64)
    big = write_train_file(tmp_path, name="big.tsv")
    result = demo.friendly(3)(tabs.balance)(str(big), "max", 0)
    assert "limit here is" in result[2]


def test_non_utf8_upload_is_read_as_latin1_and_balanced(app_and_tabs):
    _, tabs, tmp_path = app_and_tabs
    rows = [("Caf\xe9 pills helped my pain, feel better", "positive"), ("Awful nausea every day, na\xefve me", "negative"),
            ("Worst month, ruined my sleep", "negative"), ("No change at all so far", "neutral"),
            ("Started last week, nothing yet", "neutral")]
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows)).encode("latin-1"))
    chart, output, message = tabs.balance(str(latin), "max", 0)
    assert "Balanced **latin.tsv**" in message and "not valid UTF-8" in message
    assert pd.read_csv(output, sep="\t")["label"].value_counts().to_dict() == {"negative": 2, "neutral": 2,
                                                                                 "positive": 2}


def test_missing_upload_and_bad_settings(app_and_tabs):
    _, tabs, tmp_path = app_and_tabs
    assert "upload a labelled" in demo.friendly(3)(tabs.balance)(None, "max", 0)[2]
    message = demo.friendly(1)(tabs.apply_settings)(str(tmp_path / "missing.gguf"), "gated", 3)[0]
    assert message.startswith("**Problem:**") and "GGUF model file not found" in message
    applied = tabs.apply_settings("", "gated", 4)
    assert "policy `gated" in applied and "4 neighbours" in applied
