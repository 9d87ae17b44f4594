"""What every augmenter offers the pipeline: the spans it could change, and one seeded change of a span.

Finding sites is deterministic and done once per post; only ``replace`` draws random numbers, from the
``random.Random`` the pipeline passes in (never the global generator), so a seed fixes every output.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from augment.social import Token


class Site(NamedTuple):
    """A span ``text[start:end]`` an augmenter can rewrite; ``anchor`` is its first token's index."""

    start: int
    end: int
    anchor: int
    payload: Any = None  # precomputed choices (synonyms, a contraction's other form)


@runtime_checkable
class SpanAugmenter(Protocol):
    """One augmentation family (character typos, synonyms, contractions, ...)."""

    name: str

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        """Every span this augmenter may change in ``text`` (protected spans excluded)."""
        ...

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        """A new string for ``text[site.start:site.end]``, or None when this site cannot change."""
        ...


def match_case(original: str, new: str) -> str:
    """Give ``new`` the casing pattern of ``original`` (UPPER, Capitalised, or as-is)."""
    if len(original) > 1 and original.isupper():
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new
