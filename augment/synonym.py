"""WordNet synonym substitution without NLTK's POS tagger.

nlpaug's SynonymAug tags every post with ``nltk.pos_tag``, whose model cannot be downloaded here. We
choose the part of speech among those WordNet lists for the word: a cue from the previous word
("to", "a", "very", ...) when it agrees with WordNet, else the one WordNet saw most often (tagged
sense counts). Only exact lemmas are replaced (no inflected forms), by synonyms of the commonest sense.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from augment.base import Site, match_case
from augment.social import WORD, WORD_KINDS, Token
from augment.wordnet import MAX_SENSES, Lexicon, load_lexicon

# Function words and very common verbs whose WordNet "synonyms" would change meaning (I -> iodine).
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when
where which while who whom why will with would you your yours yourself yourselves also get got go going
gone let may might must shall yes yeah ok okay lol like one two us via rt amp im ive ill id youre
""".split())

_NOUN_CUES = frozenset("a an the my your his her its our their this that these those some any every each "
                       "no of".split())
_VERB_CUES = frozenset("to will would can could should must might may shall i we you they "
                       "don't didn't doesn't won't can't cannot".split())
_ADJ_CUES = frozenset("very so too really quite pretty extremely more most less least feel feeling felt "
                      "am is are was were be been being seem seems seemed look looks looked".split())
_ORDER = ("n", "v", "a", "r")


@dataclass(frozen=True, kw_only=True)
class SynonymConfig:
    max_senses: int = 1  # synonyms come from the word's commonest sense(s) only
    min_length: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.max_senses <= MAX_SENSES:
            raise ValueError(f"max_senses must be between 1 and {MAX_SENSES}, got {self.max_senses}")
        if self.min_length < 1:
            raise ValueError(f"min_length must be at least 1, got {self.min_length}")


def choose_pos(word: str, previous: str | None, options: dict[str, int]) -> str | None:
    """The part of speech to use for ``word`` given WordNet's {pos: tagged count} and the previous word."""
    if not options:
        return None
    cue = (previous or "").lower().replace("’", "'")
    preferred: tuple[str, ...] = ()
    if cue in _VERB_CUES:
        preferred = ("v",)
    elif cue in _NOUN_CUES:
        preferred = ("n", "a")
    elif cue in _ADJ_CUES:
        preferred = ("a", "r")
    if word.lower().endswith("ly"):
        preferred = ("r",) + preferred
    for pos in preferred:
        if pos in options:
            return pos
    return max(_ORDER, key=lambda p: (p in options, options.get(p, -1), -_ORDER.index(p)))


class SynonymAugmenter:
    """Replace a word by a WordNet synonym of its commonest sense, keeping its capitalisation."""

    name = "synonym"

    def __init__(self, config: SynonymConfig | None = None, *,
                 lexicon_factory: Callable[[], Lexicon] = load_lexicon) -> None:
        self.config = config or SynonymConfig()
        self.lexicon = lexicon_factory()  # fails fast (WordNetMissingError) when WordNet is not installed
        self._cache: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def sites(self, text: str, tokens: Sequence[Token]) -> list[Site]:
        found = []
        previous: str | None = None
        for index, token in enumerate(tokens):
            word = text[token.start:token.end]
            if token.kind == WORD:
                options = self.candidates(word, previous)
                if options:
                    found.append(Site(token.start, token.end, index, payload=options))
            previous = word if token.kind in WORD_KINDS else None
        return found

    def replace(self, text: str, site: Site, rng: random.Random) -> str | None:
        original = text[site.start:site.end]
        return match_case(original, site.payload[rng.randrange(len(site.payload))])

    def candidates(self, word: str, previous: str | None = None) -> tuple[str, ...]:
        """Synonyms for ``word`` after ``previous`` (cached per word and cue)."""
        lowered = word.lower()
        if (len(lowered) < self.config.min_length or lowered in STOPWORDS or word.isupper()
                or not lowered.replace("-", "").isalpha()):
            return ()  # short/function words, acronyms (ICU, CDC), contractions
        cue = (previous or "").lower()
        key = (lowered, cue if cue in _VERB_CUES | _NOUN_CUES | _ADJ_CUES else None)
        cached = self._cache.get(key)
        if cached is None:
            options = {} if self.lexicon.is_inflected(lowered) else self.lexicon.parts_of_speech(lowered)
            pos = choose_pos(lowered, key[1], options)
            cached = self.lexicon.synonyms(lowered, pos, self.config.max_senses) if pos else ()
            self._cache[key] = cached
        return cached
