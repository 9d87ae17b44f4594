"""Random word swap and deletion (nlpaug's RandomWordAug actions), never across protected spans."""

from __future__ import annotations

import random
from collections.abc import Sequence

from augment.base import Site
from augment.social import WORD, Token


class SwapAugmenter:
    """Swap two neighbouring ordinary words separated only by spaces; the sentence-initial capital moves."""

    name = "swap"

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        found = []
        for index in range(len(tokens) - 1):
            left, right = tokens[index], tokens[index + 1]
            if left.kind == WORD and right.kind == WORD and text[left.end:right.start].isspace():
                found.append(Site(left.start, right.end, index, payload=right.start - left.start))
        return found

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        span = text[site.start:site.end]
        gap_end = site.payload
        first = span[:gap_end].rstrip()
        gap = span[len(first):gap_end]
        second = span[gap_end:]
        if first.lower() == second.lower():
            return None
        if first[:1].isupper() and first[1:].islower() and second.islower() and first != "I":
            first, second = first.lower(), second[:1].upper() + second[1:]
        return second + gap + first


class DeleteAugmenter:
    """Delete an ordinary word together with the space after it (or before it, at the end of the post)."""

    name = "delete"

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        words = sum(1 for t in tokens if t.kind == WORD)
        if words < 2:
            return []  # never delete the only word
        found = []
        for index, token in enumerate(tokens):
            if token.kind != WORD:
                continue
            end = token.end
            while end < len(text) and text[end] in " \t":
                end += 1
            start = token.start
            if end == token.end or end == len(text):
                while start > 0 and text[start - 1] in " \t":
                    start -= 1
            found.append(Site(start, end, index))
        return found

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        return ""
