"""Explain health-post labels with a local LLM (ALEX), and the LangChain/LangGraph agent around it.

``from agent import build_agent`` gives the chat agent; heavy parts load only when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AlexAgent", "Workspace", "build_agent"]


def __getattr__(name: str) -> Any:
    if name in {"build_agent", "AlexAgent"}:
        from agent import graph

        return getattr(graph, name)
    if name == "Workspace":
        from agent.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
