"""Which tool answers a chat turn: the LLM chooses under a grammar, the message's own evidence checks it.

Small local models call tools poorly, so the model never writes free text here: its answer is constrained to
``{"tool": <one of the tools or "respond">, "args": <that tool's argument schema>}``, and post texts appear to
it only as references ("post 1", "earlier post") that the router resolves. A choice is accepted when the
message supports it (its cues, posts and paths, see ``agent.request``); otherwise, or when the model fails,
a deterministic rule routes the turn. Every route records who chose it, so both can be measured.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.request import FILE_TOOLS, POST_TOOLS, RESPOND, TOOL_NAMES, Request, read_request
from agent.router_prompts import ROUTER_SYSTEM, ROUTER_USER, TOOL_LINES

logger = logging.getLogger(__name__)

EARLIER_POST = "earlier post"
DEFAULT_FILE = "default"
# A tool whose answer contains another's: when both are cued, the richer one is the only plausible route.
DOMINATES = {"explain_post": ("classify_post", "find_similar_posts")}
_COUNTERFACTUAL = re.compile(r"change your mind|what would (make|it take)|\bflip\b|\bcounterfactual|different label",
                             re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class RouterConfig:
    """``use_model=False`` routes by rules alone (a baseline, and a switch for very slow machines)."""

    use_model: bool = True
    max_tokens: int = 64
    default_variants: int = 3
    max_variants: int = 10
    default_neighbours: int = 5
    max_neighbours: int = 20
    max_instruction_chars: int = 400

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if not 1 <= self.default_variants <= self.max_variants:
            raise ValueError(f"default_variants must be in [1, max_variants={self.max_variants}]")
        if not 1 <= self.default_neighbours <= self.max_neighbours:
            raise ValueError(f"default_neighbours must be in [1, max_neighbours={self.max_neighbours}]")


@dataclass(frozen=True)
class Memory:
    """What the conversation so far contributes to routing."""

    last_post: str | None = None
    last_tool: str | None = None


@dataclass(frozen=True)
class Route:
    """The decision for one turn; ``source`` is "model" when the LLM's choice was accepted, else "fallback"."""

    tool: str
    args: dict[str, Any]
    source: str
    model_choice: str | None
    reason: str
    topic: str | None = None
    focus: str | None = None
    plausible: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plausible"] = list(self.plausible)
        return data


def plausible_routes(request: Request, memory: Memory) -> tuple[str, ...]:
    """The routes this message supports, best first (the first one is the fallback)."""
    has_post, remembered = bool(request.posts), memory.last_post is not None
    post_cues = [c for c in request.cues if c in POST_TOOLS]
    file_cues = [c for c in request.cues if c in FILE_TOOLS]
    if not has_post and request.topic in {"injection", "method"}:
        return (RESPOND,)
    if request.paths:
        routes = file_cues or ["dataset_summary"]
    elif has_post:
        # no cue: one post gets the full explanation, several posts are compared by their labels
        routes = post_cues or (["classify_post"] if len(request.posts) > 1 else ["explain_post"])
    elif file_cues:
        routes = file_cues
    elif post_cues and remembered:
        routes = post_cues
    else:
        return (RESPOND,)
    for rich, poorer in DOMINATES.items():
        if rich in routes:
            routes = [r for r in routes if r not in poorer]
    return tuple(routes)


def _topic(request: Request, memory: Memory) -> str:
    if request.topic:
        return request.topic
    if [c for c in request.cues if c in POST_TOOLS] and memory.last_post is None:
        return "need_post"
    return "off_topic"


def post_references(request: Request, memory: Memory) -> list[str]:
    return list(request.references) + ([EARLIER_POST] if memory.last_post is not None else [])


def route_schema(request: Request, memory: Memory) -> dict[str, Any]:
    """The grammar: one branch per tool whose arguments can be filled from this message or the conversation."""
    refs = post_references(request, memory)
    files = list(request.paths) + [DEFAULT_FILE]
    branches = [_branch(RESPOND, {})]
    if refs:
        one = {"post": {"type": "string", "enum": refs}}
        branches += [
            _branch("classify_post", {"posts": {"type": "array", "items": {"type": "string", "enum": refs},
                                                "minItems": 1, "maxItems": len(refs)}}),
            _branch("explain_post", one),
            _branch("find_similar_posts", one),
            _branch("augment_text", one),
        ]
    file_arg = {"file": {"type": "string", "enum": files}}
    branches += [_branch(name, file_arg) for name in FILE_TOOLS]
    return {"anyOf": branches}


def _branch(tool: str, properties: dict[str, Any]) -> dict[str, Any]:
    args = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return {"type": "object", "properties": {"tool": {"type": "string", "const": tool}, "args": args},
            "required": ["tool", "args"], "additionalProperties": False}


def router_messages(request: Request, memory: Memory, max_chars: int = 400) -> list[dict[str, str]]:
    """What the model sees: tool lines, the conversation state in one line, the instruction with posts masked."""
    from agent.prompts import clean_untrusted

    tools = "\n".join(TOOL_LINES[name] for name in [*POST_TOOLS, *FILE_TOOLS, RESPOND])  # constant: a cached prefix
    state = (f"The conversation already has an {EARLIER_POST} (last step: {memory.last_tool or 'none'})."
             if memory.last_post is not None else "No post has been discussed yet.")
    refs = ", ".join(post_references(request, memory)) or "none"
    paths = ", ".join(request.paths) or "none"
    instruction = clean_untrusted(request.instruction)[:max_chars]
    return [{"role": "system", "content": ROUTER_SYSTEM.format(tools=tools)},
            {"role": "user", "content": ROUTER_USER.format(state=state, refs=refs, files=paths,
                                                           instruction=instruction)}]


class Router:
    """Route chat turns; ``llm`` is anything with ``complete_json`` (the local LLM, or a stub in tests)."""

    def __init__(self, llm: Any | None, config: RouterConfig | None = None) -> None:
        self.llm = llm
        self.config = config or RouterConfig()

    def route(self, message: str, memory: Memory | None = None) -> Route:
        memory = memory or Memory()
        request = read_request(message)
        plausible = plausible_routes(request, memory)
        choice, failure = self._ask_model(request, memory)
        model_tool = choice.get("tool") if choice else None
        if choice is not None and model_tool in plausible:
            source, tool, reason = "model", model_tool, "the model's choice fits the message"
            model_args = choice.get("args") or {}
        else:
            source, tool, model_args = "fallback", plausible[0], {}
            reason = failure or (f"the model chose {model_tool}, which the message does not support "
                                 f"(plausible: {', '.join(plausible)})")
        args = self._arguments(tool, model_args, request, memory)
        topic = _topic(request, memory) if tool == RESPOND else None
        focus = "counterfactual" if _COUNTERFACTUAL.search(request.instruction) else None
        return Route(tool=tool, args=args, source=source, model_choice=model_tool, reason=reason, topic=topic,
                     focus=focus, plausible=plausible)

    def _ask_model(self, request: Request, memory: Memory) -> tuple[dict[str, Any] | None, str | None]:
        if self.llm is None or not self.config.use_model:
            return None, "routing by rules (no model)"
        try:
            answer = self.llm.complete_json(router_messages(request, memory, self.config.max_instruction_chars),
                                            route_schema(request, memory), max_tokens=self.config.max_tokens)
        except Exception as err:  # noqa: BLE001 - any model failure means: route by rules
            logger.warning("router model failed (%s: %s); routing by rules", type(err).__name__, err)
            return None, f"the model gave no valid route ({type(err).__name__})"
        if not isinstance(answer, dict) or answer.get("tool") not in (*TOOL_NAMES, RESPOND):
            return None, "the model's route is not one of the tools"
        return answer, None

    def _arguments(self, tool: str, model_args: dict[str, Any], request: Request, memory: Memory) -> dict[str, Any]:
        """Arguments from the message first (it is the source of truth), the model's references second."""
        cfg = self.config
        if tool == RESPOND:
            return {}
        if tool in FILE_TOOLS:
            chosen = model_args.get("file")
            path = chosen if chosen in request.paths else (request.paths[0] if request.paths else None)
            return {"path": path}
        texts = self._posts(model_args, request, memory)
        if tool == "classify_post":
            return {"texts": texts}
        args: dict[str, Any] = {"text": texts[0]}  # single-post tools take the chosen (else first) post
        if tool == "find_similar_posts":
            args["k"] = _bounded(request.number, cfg.default_neighbours, cfg.max_neighbours)
        elif tool == "augment_text":
            args["n"] = _bounded(request.number, cfg.default_variants, cfg.max_variants)
        return args

    @staticmethod
    def _posts(model_args: dict[str, Any], request: Request, memory: Memory) -> list[str]:
        refs = {f"post {i}": post for i, post in enumerate(request.posts, start=1)}
        if memory.last_post is not None:
            refs[EARLIER_POST] = memory.last_post
        if request.posts:  # the posts typed in this turn win over a reference to an earlier one
            wanted = model_args.get("post")
            first = [refs[wanted]] if wanted in request.references else []
            return first + [p for p in request.posts if p not in first]
        if memory.last_post is None:
            raise ValueError("this tool needs a post, and none was given or discussed before")
        return [memory.last_post]


def _bounded(value: int | None, default: int, limit: int) -> int:
    """A count the user typed (small models invent numbers, so the model is never asked for one)."""
    if value is None or value < 1:
        return default
    return min(value, limit)
