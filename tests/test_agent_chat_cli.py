"""``python -m agent chat`` through the CLI parser, on the stub workspace (no models)."""

from __future__ import annotations

from agent.chat import chat_command, run_chat
from agent.cli import COMMANDS, build_parser
from tests.conftest_agent import StubLLM, make_workspace


def test_chat_answers_scripted_messages(tmp_path, monkeypatch, capsys):
    workspace = make_workspace(tmp_path, StubLLM(label="positive"))
    import agent.graph

    real = agent.graph.build_agent
    monkeypatch.setattr(agent.graph, "build_agent", lambda *a, **k: real(workspace=workspace))
    commands = [c for c in COMMANDS if c.name != "chat"] + [chat_command()]
    args = build_parser(commands).parse_args(
        ["chat", "-m", 'Classify "It did nothing for me, still in agony"', "-m", "why?", "--show-route"])
    assert run_chat(args) == 0
    out, err = capsys.readouterr()
    assert out.count("**Final label: negative**") == 2
    assert '"tool": "classify_post"' in err and '"tool": "explain_post"' in err
