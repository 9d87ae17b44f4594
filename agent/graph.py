"""The agent: a LangGraph graph ``route → tool → answer`` (or ``route → respond``) with memory per thread.

``build_agent()`` returns an ``AlexAgent``; ``agent.invoke({"messages": [{"role": "user", "content": ...}]},
config={"configurable": {"thread_id": "t1"}})`` runs one turn. The conversation state keeps the last post and
the last tool result, so "why?", "which similar posts?" or "give me 3 augmented versions" continue from it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, NotRequired

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import ValidationError

from agent.answers import direct_answer, tool_answer
from agent.request import POST_TOOLS, RESPOND
from agent.router import Memory, Route, Router, RouterConfig
from agent.tools import make_tools
from agent.workspace import Workspace

logger = logging.getLogger(__name__)

DEFAULT_THREAD = "default"
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, RuntimeError, ValidationError)


class AgentState(MessagesState):
    """Messages plus what follow-ups need: the post under discussion and the last tool's structured result."""

    last_post: NotRequired[str | None]
    last_tool: NotRequired[str | None]
    route: NotRequired[dict[str, Any] | None]
    result: NotRequired[dict[str, Any] | None]


def message_text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _last_user_text(state: AgentState) -> str:
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage):
            return message_text(message)
    raise ValueError("the conversation has no user message to answer")


class AgentNodes:
    """The graph's nodes, bound to a workspace (its current parts are read at each turn)."""

    def __init__(self, workspace: Workspace, router_config: RouterConfig | None = None) -> None:
        self.workspace = workspace
        self.router_config = router_config or RouterConfig(default_neighbours=workspace.settings.neighbours or 5)
        self.tools = {t.name: t for t in make_tools(workspace)}

    def route(self, state: AgentState) -> dict[str, Any]:
        start = time.perf_counter()
        memory = Memory(last_post=state.get("last_post"), last_tool=state.get("last_tool"))
        decision = Router(self.workspace.router_llm, self.router_config).route(_last_user_text(state), memory)
        record = {**decision.to_dict(), "seconds": round(time.perf_counter() - start, 3)}
        logger.info("route: %s by %s (%s)", decision.tool, decision.source, decision.reason)
        if decision.tool == RESPOND:
            return {"route": record, "result": None}
        call = {"name": decision.tool, "args": decision.args, "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "tool_call"}
        return {"route": record, "messages": [AIMessage(content="", tool_calls=[call])]}

    def run_tools(self, state: AgentState) -> dict[str, Any]:
        request = state["messages"][-1]
        messages, artifact = [], None
        for call in getattr(request, "tool_calls", []):
            message = self._run_one(call)
            messages.append(message)
            artifact = message.artifact
        update: dict[str, Any] = {"messages": messages, "result": artifact,
                                  "last_tool": request.tool_calls[-1]["name"] if messages else None}
        post = _post_of(request.tool_calls[-1]) if messages else None
        if post is not None and (artifact or {}).get("kind") != "error":
            update["last_post"] = post
        return update

    def _run_one(self, call: dict[str, Any]) -> ToolMessage:
        tool = self.tools[call["name"]]
        try:
            return tool.invoke({**call, "type": "tool_call"})
        except USER_ERRORS as err:
            logger.warning("tool %s failed: %s", call["name"], err)
            text = _error_text(err)
            return ToolMessage(content=f"error: {text}", tool_call_id=call["id"], name=call["name"], status="error",
                               artifact={"kind": "error", "tool": call["name"], "message": text})

    def answer(self, state: AgentState) -> dict[str, Any]:
        focus = (state.get("route") or {}).get("focus")
        return {"messages": [AIMessage(content=tool_answer(state.get("result"), focus))]}

    def respond(self, state: AgentState) -> dict[str, Any]:
        topic = (state.get("route") or {}).get("topic")
        return {"messages": [AIMessage(content=direct_answer(topic, self.workspace.describe()))]}


def _post_of(call: dict[str, Any]) -> str | None:
    if call["name"] not in POST_TOOLS:
        return None
    args = call.get("args") or {}
    texts = args.get("texts")
    return texts[0] if texts else args.get("text")


def _error_text(err: Exception) -> str:
    if isinstance(err, ValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return f"invalid tool arguments ({problems})"
    return str(err) or type(err).__name__


def _after_route(state: AgentState) -> str:
    return "respond" if (state.get("route") or {}).get("tool") == RESPOND else "tools"


def compile_graph(workspace: Workspace, *, router_config: RouterConfig | None = None, checkpointer: Any = None) -> Any:
    nodes = AgentNodes(workspace, router_config)
    graph = StateGraph(AgentState)
    graph.add_node("route", nodes.route)
    graph.add_node("tools", nodes.run_tools)
    graph.add_node("answer", nodes.answer)
    graph.add_node("respond", nodes.respond)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", _after_route, {"tools": "tools", "respond": "respond"})
    graph.add_edge("tools", "answer")
    graph.add_edge("answer", END)
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer if checkpointer is not None else InMemorySaver(), name="alex-agent")


class AlexAgent:
    """The compiled graph plus its workspace; a turn without a ``thread_id`` joins the thread "default"."""

    def __init__(self, graph: Any, workspace: Workspace) -> None:
        self.graph = graph
        self.workspace = workspace

    @staticmethod
    def _config(config: dict[str, Any] | None) -> dict[str, Any]:
        config = dict(config or {})
        configurable = dict(config.get("configurable") or {})
        configurable.setdefault("thread_id", DEFAULT_THREAD)
        config["configurable"] = configurable
        return config

    def invoke(self, input: dict[str, Any], config: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.graph.invoke(input, self._config(config), **kwargs)

    def stream(self, input: dict[str, Any], config: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[Any]:
        return self.graph.stream(input, self._config(config), **kwargs)

    def get_state(self, config: dict[str, Any] | None = None) -> Any:
        return self.graph.get_state(self._config(config))

    def ask(self, text: str, thread_id: str = DEFAULT_THREAD) -> str:
        """One user turn; the final answer's text."""
        state = self.invoke({"messages": [{"role": "user", "content": text}]},
                            {"configurable": {"thread_id": thread_id}})
        return message_text(state["messages"][-1])

    def warm_up(self) -> None:
        """Load the encoder and the GGUF contexts now (and read the router's fixed prompt), so that the first
        turn does not pay for it."""
        workspace = self.workspace
        parts = workspace.parts
        parts.classifier.predict_proba(["warming up"])
        if parts.index is not None:
            parts.index.search("warming up", 1)
        counter = getattr(workspace.llm, "count_tokens", None)
        if callable(counter):
            counter("warming up")
        Router(workspace.router_llm).route("hello")

    def __getattr__(self, name: str) -> Any:  # batch, astream, get_graph, ... of the compiled graph
        return getattr(self.graph, name)


def build_agent(settings: Any = None, *, llm: Any = None, classifier: Any = None, index: Any = None,
                workspace: Workspace | None = None, router_config: RouterConfig | None = None,
                checkpointer: Any = None, progress: Any = None) -> AlexAgent:
    """The agent on the embedded defaults (cached classifier and index, SmolLM2), or on the parts given.

    The first call on a machine trains the quick classifier and builds the index (about a minute); later
    calls load them from ``ALEX_CACHE_DIR``. Pass ``llm``/``classifier``/``index`` (e.g. stubs in tests).
    """
    if workspace is None:
        options = {"progress": progress} if progress is not None else {}
        workspace = Workspace.open(settings, llm=llm, classifier=classifier, index=index, **options)
    return AlexAgent(compile_graph(workspace, router_config=router_config, checkpointer=checkpointer), workspace)


__all__ = ["AgentState", "AlexAgent", "DEFAULT_THREAD", "Route", "build_agent", "compile_graph"]
