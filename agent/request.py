"""A deterministic reading of one chat message: the posts quoted in it, file paths, a count, and intent cues.

Post text is data, never instructions: posts are cut out of the message first, and every cue below is looked
for only in what remains (the *instruction*), so a post that says "ignore your instructions" cannot steer
the agent. The router shows the model the instruction with each post replaced by a reference like [post 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

POST_TOOLS = ("classify_post", "explain_post", "find_similar_posts", "augment_text")
FILE_TOOLS = ("balance_dataset", "dataset_summary", "evaluate_model")
TOOL_NAMES = POST_TOOLS + FILE_TOOLS
RESPOND = "respond"

MIN_POST_WORDS = 3
BARE_POST_WORDS = 12
MAX_POSTS = 10
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "a couple of": 2, "a few": 3, "several": 4}

# Quoted spans: double quotes, typographic quotes, guillemets, back-tick fences; single quotes only when
# they open after a space/colon and close before punctuation/end (apostrophes inside words are not quotes).
_QUOTED = re.compile(
    r'```(?:\w+\n)?(?P<fence>.+?)```'
    r'|"(?P<dq>[^"]{2,})"'
    r'|“(?P<tq>[^”]{2,})”'
    r'|«(?P<gq>[^»]{2,})»'
    r"|(?:(?<=^)|(?<=[\s:(]))'(?P<sq>[^']{2,}(?:'\w[^']*)*)'(?=$|[\s.,;:!?)])",
    re.DOTALL,
)
_LEAD_IN = re.compile(
    r"^(?P<lead>[^:\n]{0,80}?\b(?:post|tweet|review|text|message|comment|this|it|sentence|following|classify|"
    r"label|explain|analy[sz]e|augment|paraphrase|similar)\b[^:\n]{0,40}?)\s*(?::|\n|-{1,2}\s)\s*(?P<body>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_PATH = re.compile(r"(?<![\w/.~-])(?P<path>(?:~|\.{1,2}|/)?[\w.~/\\-]*[\w-]\.(?:csv|tsv|jsonl|ndjson|json|txt|tab))"
                   r"(?![\w/])", re.IGNORECASE)
_NUMBER = re.compile(r"\b(?P<n>\d{1,3})\b")

# Intent cues, strongest first within each group. Each pattern is matched against the instruction only.
CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
    ("balance_dataset", r"\bbalanc|\bover-?sampl|\bup-?sampl|\bresampl|even out the (classes|labels)"),
    ("evaluate_model", r"\bevaluat|\baccura(cy|te)\b|\bf1\b|\bmetrics?\b|\bperformance\b|how (good|well) (is|does)"
                       r"|\btest (the|your) (model|classifier)|\bscore (the|your) (model|classifier)"),
    ("dataset_summary", r"\bsummar|\bdescribe the (data|file|set)|\bstatistic|\bclass (counts?|distribution)"
                        r"|\blabel (counts?|distribution)|how many (rows|posts|examples|reviews)|overview of the"
                        r"|what(?:'s| is) in the (data|file|training)"),
    ("augment_text", r"\baugment|\bparaphras|\brephras|\brewrit|\breword|\bvariants?\b|\bvariations?\b"
                     r"|\bversions?\b|other ways to (say|write)|\bsynonym"),
    ("find_similar_posts", r"\bsimilar\b|\bneighbou?rs?\b|\bnearest\b|\bclosest\b|examples? like|posts? like (this|it)"
                           r"|\bposts?\b[^.?!]{0,40}\blike \[post \d+\]"
                           r"|\bretriev|\bcomparable\b|\blook(s)? alike\b"),
    ("explain_post", r"\bwhy\b|\bexplain|\breason|\bevidence\b|\bjustif|change your mind|what made you|\bconvinc"
                     r"|how did you (decide|get|conclude)|are you (sure|certain)|\bconfiden|walk (me )?through"
                     r"|\bhow (would |did |do )?you('d)? (label|classify|decide|judge)"),
    ("classify_post", r"\bclassif|\blabel|\bcategor|\bsentiment\b|\b(positive|negative|neutral)\b|\brate this\b"
                      r"|\bcompar|\bversus\b|\bvs\.?\s|\bwhich (of these|one)\b"),
))
_INJECTION = re.compile(
    r"ignore (all |any |the |your |every )?(previous |prior |above |earlier |of your )?(instructions|rules|prompts?)"
    r"|system prompt|\bjailbreak|developer mode|\bdisregard\b|reveal (your|the) (prompt|instructions|rules)"
    r"|(hidden|secret|initial|original) (prompt|instructions)"
    r"|you are now\b|pretend (to be|you are)|act as (an?|the)\b|forget (all|your|everything)", re.IGNORECASE)
_METHOD = re.compile(
    r"\balex\b|\bframework\b|\bpipeline\b|\barchitecture\b|\bfaiss\b|retrieval[- ]augmented|\bmethod\b"
    r"|\bapproach\b|how (does|do) (the |this |your )?(system|agent|tool|assistant|classifier|model|explainer|policy"
    r"|app|it|you)\b.*\b(work|decide|choose)|how do you (work|decide|choose)|what (llm|language model|model|bert)"
    r"|which (llm|language model|model)|decision policy|\bllama|\bgguf\b|smollm", re.IGNORECASE)
_CAPABILITIES = re.compile(r"what can you do|\bhelp\b|what are you|who are you|your (tools|capabilities)"
                           r"|what do you do|how (can|do) i use", re.IGNORECASE)
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|thanks|thank you|cheers|bye)\b",
                       re.IGNORECASE)
_HEALTH = re.compile(
    r"\b(mg|dose|dosage|pill|pills|tablet|medication|medicine|meds|drug|side[- ]effects?|doctor|prescri\w+|pain"
    r"|symptoms?|anxiety|depression|insomnia|nausea|headache|migraine|vaccin\w*|covid|flu|took|taking|started"
    r"|stopped|weeks?|months?)\b", re.IGNORECASE)
_ADDRESSED = re.compile(r"^\s*(can|could|would|will|do|does|did|should|what|which|who|how|why|when|where|is|are"
                        r"|please|tell|give|show|write|make|list|translate|find|help|let's|generate|create|draw"
                        r"|explain|describe|summari[sz]e)\b", re.IGNORECASE)
_YOU = re.compile(r"\b(you|your)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    """What a user message asks, read without any model."""

    message: str
    posts: tuple[str, ...]
    instruction: str
    paths: tuple[str, ...]
    number: int | None
    cues: tuple[str, ...]
    topic: str | None

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(f"post {i}" for i in range(1, len(self.posts) + 1))


def _clean_post(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("\"'“”«»").strip()


def _quoted_posts(message: str) -> tuple[list[str], str]:
    """Cut out quoted spans of at least ``MIN_POST_WORDS`` words; shorter quotes stay in the instruction."""
    posts: list[str] = []

    def replace(match: re.Match[str]) -> str:
        body = next(g for g in match.groups() if g is not None)
        text = _clean_post(body)
        if len(text.split()) < MIN_POST_WORDS or len(posts) >= MAX_POSTS or _PATH.fullmatch(text):
            return match.group(0)
        posts.append(text)
        return f"[post {len(posts)}]"

    return posts, _QUOTED.sub(replace, message)


def _lead_in_post(message: str) -> tuple[str, str] | None:
    """``Classify this post: <text>`` (a colon, a line break or a dash after a short instruction)."""
    match = _LEAD_IN.match(message.strip())
    if not match:
        return None
    body = _clean_post(match.group("body"))
    if len(body.split()) < MIN_POST_WORDS or _PATH.fullmatch(body):
        return None
    return body, match.group("lead").strip() + ": [post 1]"


def _is_bare_post(message: str) -> bool:
    """A pasted post with no instruction: a statement, not a question or command to the assistant.

    Injected instructions inside health talk stay part of the post; without health talk they are a request.
    """
    words = len(message.split())
    health = bool(_HEALTH.search(message))
    injected = _INJECTION.search(message)
    if words < MIN_POST_WORDS + 2 or (injected and (injected.start() < 15 or not health)):
        return False  # an injection that opens the message, or one with no health talk, is a request
    if _ADDRESSED.search(message) or _GREETING.search(message) or _CAPABILITIES.search(message):
        return False
    if (message.rstrip().endswith("?") or _YOU.search(message)) and not health:
        return False
    if words >= BARE_POST_WORDS * 2:
        return True
    cued = any(p.search(message) for _, p in CUES) or _METHOD.search(message)
    return not cued or (health and words >= BARE_POST_WORDS)


def extract_posts(message: str) -> tuple[tuple[str, ...], str]:
    """(posts, instruction): the posts in a message and the message with each replaced by ``[post N]``."""
    posts, instruction = _quoted_posts(message)
    if posts:
        return tuple(posts), instruction
    lead = _lead_in_post(message)
    if lead is not None:
        return (lead[0],), lead[1]
    if _is_bare_post(message):
        return (_clean_post(message),), "[post 1]"
    return (), message


def _number(instruction: str) -> int | None:
    match = _NUMBER.search(re.sub(r"\[post \d+\]", " ", instruction))
    if match:
        return int(match.group("n"))
    lowered = instruction.lower()
    for word, value in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", lowered):
            return value
    return None


def _topic(instruction: str, has_post: bool) -> str | None:
    """Why a message with no tool would get a direct answer (checked in this order)."""
    if _INJECTION.search(instruction):
        return "injection"
    if _METHOD.search(instruction) and not has_post:
        return "method"
    if _CAPABILITIES.search(instruction):
        return "capabilities"
    if _GREETING.search(instruction):
        return "greeting"
    return None


def read_request(message: str) -> Request:
    """Read posts, paths, a count and cues from one user message (no model involved)."""
    message = str(message)
    posts, instruction = extract_posts(message)
    paths = tuple(dict.fromkeys(m.group("path") for m in _PATH.finditer(instruction)))
    cue_text = _PATH.sub(" ", instruction)
    cues = tuple(name for name, pattern in CUES if pattern.search(cue_text))
    return Request(message=message, posts=posts, instruction=instruction, paths=paths,
                   number=_number(cue_text), cues=cues, topic=_topic(cue_text, bool(posts)))
