"""The composite flow: change a fraction of a post's words, each by one of the chosen augmenters.

ALEX changed about 10% of the words of each minority post. Here every augmenter lists the spans it may
change (protected spans excluded), the flow draws ``ceil(word_p * words)`` of them (within
``min_changes``..``max_changes``), lets one augmenter rewrite each, and splices the new strings into the
original text, so untouched text keeps its exact spacing and punctuation.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

from augment.base import Site, SpanAugmenter
from augment.char import CharConfig, KeyboardAugmenter, RandomCharAugmenter
from augment.contraction import ContractionAugmenter
from augment.social import WORD_KINDS, normalize, tokenize
from augment.synonym import SynonymAugmenter, SynonymConfig
from augment.word import DeleteAugmenter, SwapAugmenter

logger = logging.getLogger(__name__)

DEFAULT_AUGMENTERS = ("char", "keyboard", "synonym", "contraction")


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Which augmenters run and how much of each post they change."""

    augmenters: tuple[str, ...] = DEFAULT_AUGMENTERS
    word_p: float = 0.1  # fraction of a post's words changed per variant (ALEX: 10%)
    min_changes: int = 1
    max_changes: int = 10
    attempts: int = 4  # tries per requested variant before giving up (duplicates, few changeable words)
    normalize_users: bool = False  # @handle -> @USER
    normalize_urls: bool = False  # links -> HTTPURL
    keep_words: frozenset[str] = frozenset()  # words never changed (e.g. task keywords)
    char: CharConfig = field(default_factory=CharConfig)
    synonym: SynonymConfig = field(default_factory=SynonymConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "augmenters", parse_augmenters(self.augmenters))
        object.__setattr__(self, "keep_words", frozenset(w.lower() for w in self.keep_words))
        if not 0 < self.word_p <= 1:
            raise ValueError(f"word_p must be in (0, 1], got {self.word_p}")
        if not 1 <= self.min_changes <= self.max_changes:
            raise ValueError(f"need 1 <= min_changes <= max_changes, got {self.min_changes}, {self.max_changes}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")


FACTORIES: Mapping[str, Callable[[AugmentConfig], SpanAugmenter]] = {
    "char": lambda config: RandomCharAugmenter(config.char),
    "keyboard": lambda config: KeyboardAugmenter(config.char),
    "synonym": lambda config: SynonymAugmenter(config.synonym),
    "contraction": lambda config: ContractionAugmenter(),
    "swap": lambda config: SwapAugmenter(),
    "delete": lambda config: DeleteAugmenter(),
}


def parse_augmenters(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"char,keyboard"`` or a list -> a tuple of known augmenter names, in order, without repeats."""
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ValueError(f"unknown augmenter(s) {unknown}; choose from {', '.join(FACTORIES)}")
    if not names:
        raise ValueError(f"no augmenter given; choose from {', '.join(FACTORIES)}")
    return tuple(names)


def make_rng(seed: int, *keys: object) -> random.Random:
    """A private generator for (seed, keys): string seeds hash with SHA-512, stable across runs and hosts."""
    return random.Random(":".join(str(k) for k in ("alex-augment", seed, *keys)))


class Variant(NamedTuple):
    text: str
    augmenters: tuple[str, ...]  # the augmenters that changed something, in configuration order


class _Edit(NamedTuple):
    start: int
    end: int
    text: str
    name: str


class Augmenter:
    """Tweet-aware text augmentation with nlpaug's verb: ``augment(texts, n, seed=...)``."""

    def __init__(self, config: AugmentConfig | None = None, *,
                 factories: Mapping[str, Callable[[AugmentConfig], SpanAugmenter]] | None = None,
                 **options: object) -> None:
        """``options`` override fields of ``config``; ``factories`` swap augmenter builders (tests, fakes)."""
        base = config or AugmentConfig()
        self.config = dataclasses.replace(base, **options) if options else base  # type: ignore[arg-type]
        builders = {**FACTORIES, **(factories or {})}
        self.augmenters: list[SpanAugmenter] = [builders[name](self.config) for name in self.config.augmenters]

    @overload
    def augment(self, texts: str, n: int = 1, *, seed: int = 0) -> list[str]: ...
    @overload
    def augment(self, texts: Sequence[str], n: int = 1, *, seed: int = 0) -> list[list[str]]: ...

    def augment(self, texts: str | Sequence[str], n: int = 1, *, seed: int = 0) -> list[str] | list[list[str]]:
        """Up to ``n`` distinct changed variants of a post (a list of them for a list of posts).

        Fewer come back when a post has too few changeable words; never the unchanged post.
        """
        if isinstance(texts, str):
            return [v.text for v in self.variants(self.prepare(texts), n, rng=make_rng(seed, 0))]
        results = []
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"texts[{position}] is {type(text).__name__}, expected a string")
            results.append([v.text for v in self.variants(self.prepare(text), n, rng=make_rng(seed, position))])
        return results

    def prepare(self, text: str) -> str:
        """The text as it is augmented and written out: entities decoded, handles/links normalised if asked."""
        return normalize(text, users=self.config.normalize_users, urls=self.config.normalize_urls)

    def variants(self, text: str, n: int, *, rng: random.Random, exclude: Container[str] = ()) -> list[Variant]:
        """Up to ``n`` variants of an already prepared ``text``, none equal to it, to each other or in ``exclude``."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        tokens = tokenize(text, self.config.keep_words)
        options = self._options(text, tokens)
        if not options:
            logger.debug("nothing to change in %r", text[:80])
            return []
        words = sum(1 for t in tokens if t.kind in WORD_KINDS)
        changes = min(max(math.ceil(self.config.word_p * words), self.config.min_changes), self.config.max_changes)
        found: list[Variant] = []
        seen = {text, text.strip()}
        for _ in range(n * self.config.attempts):
            variant = self._once(text, options, changes, rng)
            if variant is not None and variant.text not in seen and variant.text not in exclude:
                seen.add(variant.text)
                found.append(variant)
                if len(found) == n:
                    break
        return found

    def _options(self, text: str, tokens: Sequence) -> dict[int, list[tuple[SpanAugmenter, Site]]]:
        options: dict[int, list[tuple[SpanAugmenter, Site]]] = {}
        for augmenter in self.augmenters:
            for site in augmenter.sites(text, tokens):
                options.setdefault(site.anchor, []).append((augmenter, site))
        return options

    def _once(self, text: str, options: dict[int, list[tuple[SpanAugmenter, Site]]], changes: int,
              rng: random.Random) -> Variant | None:
        edits: list[_Edit] = []
        for anchor in rng.sample(sorted(options), len(options)):
            if len(edits) == changes:
                break
            choices = options[anchor]
            augmenter, site = choices[rng.randrange(len(choices))]
            if any(site.start < e.end and e.start < site.end for e in edits):
                continue
            new = augmenter.replace(text, site, rng)
            if new is not None and new != text[site.start:site.end]:
                edits.append(_Edit(site.start, site.end, new, augmenter.name))
        if not edits:
            return None
        pieces, cursor = [], 0
        for edit in sorted(edits):
            pieces += [text[cursor:edit.start], edit.text]
            cursor = edit.end
        pieces.append(text[cursor:])
        used = {e.name for e in edits}
        return Variant("".join(pieces).strip(), tuple(n for n in self.config.augmenters if n in used))
