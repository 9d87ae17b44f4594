"""Character-level typos: random letter substitution, and QWERTY-neighbour keyboard slips (nlpaug's map)."""

from __future__ import annotations

import functools
import math
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from augment.base import Site
from augment.social import APOSTROPHES, WORD, Token

_APOSTROPHE = re.compile(f"[{APOSTROPHES}]")


@dataclass(frozen=True, kw_only=True)
class CharConfig:
    """How many letters change in a chosen word (nlpaug's aug_char_p / min / max) and which words qualify."""

    char_p: float = 0.15
    char_min: int = 1
    char_max: int = 3
    min_letters: int = 4  # shorter words are left alone, as nlpaug's min_char=4

    def __post_init__(self) -> None:
        if not 0 < self.char_p <= 1:
            raise ValueError(f"char_p must be in (0, 1], got {self.char_p}")
        if not 1 <= self.char_min <= self.char_max:
            raise ValueError(f"need 1 <= char_min <= char_max, got {self.char_min} and {self.char_max}")
        if self.min_letters < 1:
            raise ValueError(f"min_letters must be at least 1, got {self.min_letters}")


class _CharAugmenter:
    name = "char"

    def __init__(self, config: CharConfig | None = None) -> None:
        self.config = config or CharConfig()

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        found = []
        for index, token in enumerate(tokens):
            if token.kind != WORD:
                continue
            if token.end - token.start < self.config.min_letters:
                continue
            stem = _stem(text[token.start:token.end])
            if self._count(stem) >= self.config.min_letters:
                found.append(Site(token.start, token.end, index))
        return found

    def _count(self, stem: str) -> int:
        if stem.isascii() and stem.isalpha():
            return len(stem)  # every ASCII letter is changeable (fast path)
        return sum(1 for c in stem if self._changeable(c))

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        chars = list(text[site.start:site.end])
        positions = [i for i, c in enumerate(_stem("".join(chars))) if self._changeable(c)]
        if not positions:
            return None
        config = self.config
        count = min(max(math.ceil(config.char_p * len(chars)), config.char_min), config.char_max, len(positions))
        for position in sorted(rng.sample(positions, count)):
            chars[position] = self._pick(chars[position], rng)
        return "".join(chars)

    def _changeable(self, char: str) -> bool:
        raise NotImplementedError

    def _pick(self, char: str, rng: random.Random) -> str:
        raise NotImplementedError


def _stem(word: str) -> str:
    """The part before an apostrophe: typos in "people's" are fine, in "we're" they break the contraction."""
    match = _APOSTROPHE.search(word)
    return word[:match.start()] if match else word


class RandomCharAugmenter(_CharAugmenter):
    """Substitute random letters (same case), as nlpaug's RandomCharAug(action="substitute") on letters only."""

    name = "char"

    def _changeable(self, char: str) -> bool:
        return char in string.ascii_letters

    def _pick(self, char: str, rng: random.Random) -> str:
        pool = (string.ascii_uppercase if char.isupper() else string.ascii_lowercase).replace(char, "")
        return pool[rng.randrange(len(pool))]


class KeyboardAugmenter(_CharAugmenter):
    """Replace letters by a neighbouring QWERTY key (nlpaug's keyboard map), keeping the letter's case."""

    name = "keyboard"

    def __init__(self, config: CharConfig | None = None, *, layout: str = "en") -> None:
        super().__init__(config)
        self.neighbours = keyboard_neighbours(layout)
        if not set(string.ascii_lowercase) <= set(self.neighbours):
            self._count = lambda stem: sum(1 for c in stem if self._changeable(c))  # type: ignore[method-assign]

    def _changeable(self, char: str) -> bool:
        return char.lower() in self.neighbours

    def _pick(self, char: str, rng: random.Random) -> str:
        options = self.neighbours[char.lower()]
        choice = options[rng.randrange(len(options))]
        return choice.upper() if char.isupper() else choice


@functools.lru_cache(maxsize=8)
def keyboard_neighbours(layout: str = "en") -> dict[str, tuple[str, ...]]:
    """Letter -> neighbouring letters, from nlpaug's bundled keyboard layouts (one key away)."""
    import nlpaug.model.char as nmc
    from nlpaug.util import LibraryUtil

    path = Path(LibraryUtil.get_res_dir()) / "char" / "keyboard" / f"{layout}.json"
    if not path.is_file():
        raise ValueError(f"no keyboard layout {layout!r} in nlpaug (looked for {path})")
    model = nmc.Keyboard(special_char=False, numeric=False, upper_case=False, lang=layout, model_path=str(path))
    letters = {}
    for key, values in model.model.items():
        options = tuple(sorted({v for v in values if v.isalpha() and v.islower() and v != key}))
        if key.isalpha() and key.islower() and options:
            letters[key] = options
    return letters
