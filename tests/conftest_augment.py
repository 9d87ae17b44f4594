"""Shared helpers for the augment tests: sample posts, a fake WordNet lexicon, and data-set paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from augment.wordnet import DEBIAN_DIR, REQUIRED_FILES, Entry, Lexicon

REPO = Path(__file__).resolve().parents[1]
POST = ("I am not sure the masks work, @bob said it's covid https://t.co/x #stayhome 😷 "
        "and I don't believe 2020 numbers")
# The protected spans of POST that every augmenter must leave exactly as written.
PROTECTED = ("@bob", "https://t.co/x", "#stayhome", "😷", "2020")

NO_WORDNET = ("char", "keyboard", "contraction", "swap", "delete")

requires_wordnet = pytest.mark.skipif(
    not all((Path(os.environ.get("WNSEARCHDIR") or DEBIAN_DIR) / f).is_file() for f in REQUIRED_FILES),
    reason="WordNet is not installed (apt-get install wordnet-base wordnet-sense-index)",
)


def shared_datasets() -> Path:
    return Path(os.environ.get("SHARED_DATASETS") or REPO.parent / "shared" / "datasets")


class _Synset(NamedTuple):
    names: tuple[str, ...]

    def lemma_names(self) -> list[str]:
        return list(self.names)


class FakeReader:
    """Stands in for NLTK's WordNet reader: synsets by (pos, offset), no inflections."""

    def __init__(self, synsets: dict[tuple[str, int], tuple[str, ...]]) -> None:
        self.synsets = synsets

    def synset_from_pos_and_offset(self, pos: str, offset: int) -> _Synset:
        return _Synset(self.synsets[(pos, offset)])

    def morphy(self, form: str, pos: str) -> str | None:
        return form[:-1] if form.endswith("ed") else None


def fake_lexicon() -> Lexicon:
    """A tiny WordNet: 'sick' (adj > noun), 'test' (noun and verb), 'doctor', 'worried' (inflected)."""
    reader = FakeReader({
        ("a", 1): ("sick", "ill"), ("n", 2): ("sick", "sickness_people"),
        ("n", 3): ("test", "trial", "tryout"), ("v", 4): ("test", "prove", "try_out"),
        ("n", 5): ("doctor", "physician", "Doc", "medico"),
        ("a", 6): ("worried", "apprehensive"),
    })
    index = {
        "sick": {"a": Entry(10, (1,)), "n": Entry(1, (2,))},
        "test": {"n": Entry(5, (3,)), "v": Entry(3, (4,))},
        "doctor": {"n": Entry(8, (5,))},
        "worried": {"a": Entry(4, (6,))},
    }
    return Lexicon(reader, index)


def small_frame() -> pd.DataFrame:
    """8 'neg' and 3 'pos' posts, tweet-like, with an id column the balancer must carry along."""
    neg = [f"Just a normal day number {i} at work, nothing to report about the weather" for i in range(8)]
    pos = [
        "I tested positive today and I am feeling terrible, @clinic said stay home",
        "My whole family has the virus now, we do not know what to do #covid",
        "Fever and cough since Monday, waiting for results https://t.co/abc",
    ]
    return pd.DataFrame({
        "id": [f"t{i}" for i in range(11)],
        "text": neg + pos,
        "label": ["neg"] * 8 + ["pos"] * 3,
    })
