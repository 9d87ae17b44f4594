"""``python -m agent chat``: talk to the agent in a terminal (or answer one ``--message`` and exit).

Registered as a subcommand by ``COMMANDS.append(chat_command())`` in ``agent.cli`` (this module does not
import ``agent.cli`` at import time, so either may be imported first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

PROMPT = "you> "


def configure_chat(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--message", "-m", action="append",
                        help="answer this message and exit (repeat for a multi-turn script)")
    parser.add_argument("--thread", default="cli", help="conversation id (memory is per thread)")
    parser.add_argument("--rules-only", action="store_true", help="route turns by rules, without asking the LLM")
    parser.add_argument("--show-route", action="store_true", help="print which tool each turn used, and who chose it")
    parser.add_argument("--gguf", help="GGUF model file (default: ALEX_GGUF, else the embedded SmolLM2-135M)")


def run_chat(args: argparse.Namespace) -> int:
    from agent.graph import build_agent, message_text
    from agent.router import RouterConfig
    from agent.settings import load_settings

    settings = load_settings(gguf=args.gguf)
    agent = build_agent(settings, router_config=RouterConfig(use_model=not args.rules_only),
                        progress=lambda fraction, message: print(f"[{100 * fraction:3.0f}%] {message}",
                                                                 file=sys.stderr))
    messages = args.message or _interactive()
    for text in messages:
        start = time.perf_counter()
        state = agent.invoke({"messages": [{"role": "user", "content": text}]},
                             {"configurable": {"thread_id": args.thread}})
        if args.show_route:
            route = state["route"]
            print(json.dumps({"tool": route["tool"], "source": route["source"], "model_choice": route["model_choice"],
                              "seconds": round(time.perf_counter() - start, 2)}), file=sys.stderr)
        print(message_text(state["messages"][-1]))
        print()
    return 0


def _interactive():
    print("Paste a post or ask a question (Ctrl-D to quit).", file=sys.stderr)
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print(file=sys.stderr)
            return
        if line.strip():
            yield line


def chat_command() -> Any:
    """The ``chat`` subcommand for ``agent.cli.COMMANDS``."""
    from agent.cli import Command

    return Command("chat", "chat with the agent (classify, explain, similar posts, augment, data files)",
                   configure_chat, run_chat)
