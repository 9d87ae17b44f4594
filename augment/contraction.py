"""Contraction and expansion ("I am" <-> "I'm", "do not" <-> "don't"): same meaning, negations preserved.

This is the one augmenter allowed to reshape a negation, and only between forms that both negate.
The apostrophe style of the post (straight or curly) is kept.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from augment.base import Site
from augment.social import APOSTROPHES, NEGATION, WORD, Token

# contracted -> expanded (the commonest reading); "'s"/"'d" before "been"/"got" read as has/had below.
EXPANSIONS: dict[str, str] = {
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are",
    "it's": "it is", "that's": "that is", "he's": "he is", "she's": "she is", "there's": "there is",
    "here's": "here is", "what's": "what is", "who's": "who is", "where's": "where is", "how's": "how is",
    "let's": "let us",
    "i've": "i have", "you've": "you have", "we've": "we have", "they've": "they have",
    "i'll": "i will", "you'll": "you will", "we'll": "we will", "they'll": "they will", "he'll": "he will",
    "she'll": "she will", "it'll": "it will", "that'll": "that will",
    "i'd": "i would", "you'd": "you would", "we'd": "we would", "they'd": "they would", "he'd": "he would",
    "she'd": "she would",
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "isn't": "is not", "aren't": "are not",
    "wasn't": "was not", "weren't": "were not", "haven't": "have not", "hasn't": "has not",
    "hadn't": "had not", "won't": "will not", "wouldn't": "would not", "can't": "cannot",
    "couldn't": "could not", "shouldn't": "should not", "mustn't": "must not", "needn't": "need not",
}
# expanded -> contracted. "have"/"has"/"had" are left out: "I have covid" must not become "I've covid".
CONTRACTIONS: dict[str, str] = {
    expanded: contracted for contracted, expanded in EXPANSIONS.items()
    if not expanded.endswith((" have", " has", " had"))
}
CONTRACTIONS["can not"] = "can't"
_PERFECT = frozenset({"been", "got", "gotten", "had"})


def _plain(word: str) -> str:
    return word.lower().replace("’", "'")


class ContractionAugmenter:
    """Swap between contracted and expanded forms of a pronoun/auxiliary phrase."""

    name = "contraction"

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        words = [i for i, t in enumerate(tokens) if t.kind in (WORD, NEGATION)]
        found = []
        for position, index in enumerate(words):
            token = tokens[index]
            word = text[token.start:token.end]
            next_index = words[position + 1] if position + 1 < len(words) else None
            expanded = self._expand(word, text, tokens, next_index)
            if expanded is not None:
                found.append(Site(token.start, token.end, index, payload=expanded))
                continue
            if next_index is not None and next_index == index + 1:
                other = tokens[next_index]
                gap = text[token.end:other.start]
                pair = f"{_plain(word)} {_plain(text[other.start:other.end])}"
                if gap.isspace() and pair in CONTRACTIONS:
                    found.append(Site(token.start, other.end, index, payload=self._contract(text, pair, word)))
        return found

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        return site.payload

    @staticmethod
    def _expand(word: str, text: str, tokens: Sequence[Token], next_index: int | None) -> str | None:
        plain = _plain(word)
        if plain == "cannot":
            return _cased(word, "can not")
        expanded = EXPANSIONS.get(plain)
        if expanded is None:
            return None
        following = _plain(text[tokens[next_index].start:tokens[next_index].end]) if next_index is not None else ""
        if following in _PERFECT and plain.endswith(("'s", "'d")):
            expanded = expanded.rsplit(" ", 1)[0] + (" has" if plain.endswith("'s") else " had")
        return _cased(word, expanded)

    @staticmethod
    def _contract(text: str, pair: str, first: str) -> str:
        apostrophe = next((c for c in text if c in APOSTROPHES), "'")
        contracted = CONTRACTIONS[pair].replace("'", apostrophe)
        return _cased(first, contracted)


def _cased(original: str, new: str) -> str:
    """UPPER stays UPPER; otherwise keep the first letter's case (a lower-case "i" stays lower-case)."""
    if len(original) > 1 and original.replace("'", "").replace("’", "").isupper():
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new
