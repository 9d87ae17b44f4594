"""Tweet-aware tokens: which spans augmentation may change, and which it must keep exactly as written.

Augmenters never re-join tokens: they replace character spans of the original string, so everything
they do not touch (spacing, apostrophes, punctuation, emojis) reads exactly as the user wrote it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import NamedTuple

WORD = "word"          # an ordinary word: augmenters may change it
NEGATION = "negation"  # not, no, never, ...n't: only the contraction augmenter may reshape it
KEPT = "kept"          # a word the caller asked to keep (e.g. a task keyword)
NUMBER = "number"      # digits, or a word containing digits (covid19, 2nd)
MENTION = "mention"
URL = "url"
HASHTAG = "hashtag"
EMOJI = "emoji"        # emoji characters and :shortcode: emojis
ENTITY = "entity"      # an HTML entity left in the text (&amp;)
PUNCT = "punct"
WORD_KINDS = frozenset({WORD, NEGATION, KEPT})

NEGATIONS = frozenset({
    "not", "no", "never", "nor", "none", "nobody", "nothing", "neither", "nowhere", "cannot", "nope",
    "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant", "couldnt", "shouldnt",
    "wouldnt", "wont", "aint", "havent", "hasnt", "hadnt", "mustnt",
})
APOSTROPHES = "'’"

_EMOJI_CHARS = (
    "\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B00-\u2BFF\u2190-\u21FF"
    "\u3030\u303D\u3297\u3299\uFE0F\u200D\U000E0020-\U000E007F"
)
_TOKEN = re.compile(
    r"(?P<url>(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]'’”]|\bHTTPURL\b)"
    r"|(?P<mention>@\w+)"
    r"|(?P<hashtag>#\w+)"
    r"|(?P<emoji>:[a-z][a-z0-9_+\-]*:|[" + _EMOJI_CHARS + r"]+)"
    r"|(?P<entity>&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)"
    r"|(?P<word>[^\W_]+(?:['’\-][^\W_]+)*)"
    r"|(?P<punct>\S)"
)
_DIGIT = re.compile(r"\d")
_MENTION = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]'’”]")
_SPACE_BEFORE = re.compile(r"\s+([.,!?;:%)\]}”’])")
_SPACE_AFTER = re.compile(r"([(\[{“@#])\s+")
_SPLIT_APOSTROPHE = re.compile(r"(\w)\s*(['’])\s*(s|m|t|d|re|ve|ll|S|M|T|D|RE|VE|LL)\b")


class Token(NamedTuple):
    kind: str
    start: int
    end: int


def is_negation(word: str) -> bool:
    """True for negation words and any ``n't`` contraction (straight or curly apostrophe)."""
    lowered = word.lower()
    return lowered in NEGATIONS or lowered.endswith(("n't", "n’t"))


def tokenize(text: str, keep: Iterable[str] = ()) -> list[Token]:
    """Split a post into typed spans; ``keep`` lists words (any case) that must stay unchanged."""
    kept = {w.lower() for w in keep}
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or PUNCT
        if kind == WORD:
            word = match.group()
            if _DIGIT.search(word):
                kind = NUMBER
            elif word.lower() in kept:
                kind = KEPT
            elif is_negation(word):
                kind = NEGATION
        tokens.append(Token(kind, match.start(), match.end()))
    return tokens


def normalize(text: str, *, users: bool = False, urls: bool = False) -> str:
    """Decode HTML entities (``&amp;`` -> ``&``); optionally replace handles by ``@USER`` and links by ``HTTPURL``."""
    value = html.unescape(text)
    if urls:
        value = _URL.sub("HTTPURL", value)
    if users:
        value = _MENTION.sub("@USER", value)
    return value


def detokenize(text: str) -> str:
    """Repair text re-joined token by token (nlpaug's ``I ' m`` and ``word .``) so it reads like the input."""
    value = _SPLIT_APOSTROPHE.sub(r"\1\2\3", text)
    value = _SPACE_BEFORE.sub(r"\1", value)
    value = _SPACE_AFTER.sub(r"\1", value)
    return re.sub(r"[ \t]{2,}", " ", value).strip()
