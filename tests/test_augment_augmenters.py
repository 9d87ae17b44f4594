"""Each augmenter on fixed seeds (golden outputs), the composite flow, determinism and configuration checks."""

from __future__ import annotations

import random

import pytest

from augment import AugmentConfig, Augmenter, make_rng
from augment.char import CharConfig, KeyboardAugmenter, RandomCharAugmenter, keyboard_neighbours
from augment.contraction import ContractionAugmenter
from augment.social import tokenize
from augment.synonym import SynonymAugmenter, SynonymConfig, choose_pos
from tests.conftest_augment import NO_WORDNET, POST, fake_lexicon, requires_wordnet

FAKE_SYNONYMS = {"synonym": lambda config: SynonymAugmenter(config.synonym, lexicon_factory=fake_lexicon)}

# Hand-checked outputs for POST with seed=7, n=2 (one change per variant: ceil(0.1 * 19 words) = 2).
GOLDEN = {
    "char": [
        "I am not sure the masks sork, @bob said it's covid https://t.co/x #stayhome 😷 and I don't welievj 2020 numbers",
        "I am not sure the masks work, @bob syid it's cojid https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ],
    "keyboard": [
        "I am not sure the masks sork, @bob said it's covid https://t.co/x #stayhome 😷 and I don't helievs 2020 numbers",
        "I am not sure the masks work, @bob sald it's covic https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ],
    "contraction": [
        "I'm not sure the masks work, @bob said it is covid https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
        "I'm not sure the masks work, @bob said it's covid https://t.co/x #stayhome 😷 and I do not believe 2020 numbers",
    ],
    "swap": [
        "I am not sure masks the work, @bob said covid it's https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
        "I am not the sure masks work, @bob it's said covid https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ],
    "delete": [
        "I am not sure the masks, @bob said it's covid https://t.co/x #stayhome 😷 and don't believe 2020 numbers",
        "I am not sure the masks work, @bob it's https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ],
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_outputs(name: str) -> None:
    assert Augmenter(augmenters=[name]).augment(POST, 2, seed=7) == GOLDEN[name]


def test_golden_synonyms_with_fake_wordnet() -> None:
    text = "The doctor said I am sick, the test was worried"
    out = Augmenter(augmenters=["synonym"], factories=FAKE_SYNONYMS, word_p=0.5).augment(text, 3, seed=7)
    assert out == [
        "The physician said I am ill, the tryout was worried",
        "The medico said I am ill, the trial was worried",
        "The physician said I am ill, the trial was worried",
    ]


@requires_wordnet
def test_golden_synonyms_with_real_wordnet() -> None:
    assert Augmenter(augmenters=["synonym"]).augment(POST, 2, seed=7) == [
        "I am not certain the masks work, @bob said it's covid https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ]
    out = Augmenter(augmenters=["synonym"]).augment("I feel sick and my doctor is worried", 3, seed=1)
    assert "I feel ill and my doctor is worried" in out
    assert all("worried" in o for o in out)  # inflected forms are left alone


@requires_wordnet
def test_golden_composite() -> None:
    assert Augmenter().augment(POST, 2, seed=7) == [
        "I am not sure the masks work, @bob said it is covid https://t.co/x #stayhome 😷 and I don't benieqe 2020 numbers",
        "I am not sure the masks work, @bob sfid it's cocid https://t.co/x #stayhome 😷 and I don't believe 2020 numbers",
    ]


def test_composite_changes_a_tenth_of_the_words() -> None:
    words = " ".join(["patient"] * 40)
    engine = Augmenter(augmenters=["char"], word_p=0.1)
    for variant in engine.variants(words, 5, rng=make_rng(0, 0)):
        changed = sum(a != b for a, b in zip(variant.text.split(), words.split(), strict=True))
        assert changed == 4  # ceil(0.1 * 40)


def test_max_changes_caps_the_number_of_edits() -> None:
    words = " ".join(["patient"] * 200)
    variant = Augmenter(augmenters=["char"], word_p=0.5, max_changes=3).variants(words, 1, rng=make_rng(1, 0))[0]
    assert sum(a != b for a, b in zip(variant.text.split(), words.split(), strict=True)) == 3


def test_same_seed_same_output_other_seed_other_output() -> None:
    engine = Augmenter(augmenters=list(NO_WORDNET))
    assert engine.augment(POST, 4, seed=3) == Augmenter(augmenters=list(NO_WORDNET)).augment(POST, 4, seed=3)
    assert engine.augment(POST, 4, seed=3) != engine.augment(POST, 4, seed=4)


def test_list_input_matches_single_input_and_uses_no_global_rng() -> None:
    engine = Augmenter(augmenters=["char", "contraction"])
    state = random.getstate()
    batch = engine.augment([POST, "Feeling awful, cannot breathe"], 2, seed=5)
    assert random.getstate() == state
    assert batch[0] == engine.augment(POST, 2, seed=5)
    assert len(batch) == 2 and all(len(v) == 2 for v in batch)


def test_variants_are_distinct_and_differ_from_the_input() -> None:
    out = Augmenter(augmenters=list(NO_WORDNET)).augment(POST, 10, seed=0)
    assert len(out) == 10 and len(set(out)) == 10 and POST not in out


def test_nothing_to_change_gives_no_variant() -> None:
    engine = Augmenter(augmenters=list(NO_WORDNET))
    assert engine.augment("@bob https://t.co/x #covid 😷 2020", 3, seed=0) == []
    assert engine.augment("", 3, seed=0) == []


def test_exclude_is_respected() -> None:
    engine = Augmenter(augmenters=["contraction"])
    every = engine.variants("I am here and I do not care", 10, rng=make_rng(0, 0))
    assert {v.text for v in every} == {"I'm here and I do not care", "I am here and I don't care"}  # 1 change each
    kept = engine.variants("I am here and I do not care", 10, rng=make_rng(0, 0),
                           exclude={"I'm here and I do not care"})
    assert [v.text for v in kept] == ["I am here and I don't care"]


def test_variant_names_the_augmenters_used() -> None:
    engine = Augmenter(augmenters=["char", "contraction"], word_p=1.0)
    variant = engine.variants("I am really worried about everything", 1, rng=make_rng(2, 0))[0]
    assert set(variant.augmenters) <= {"char", "contraction"} and variant.augmenters


def test_contraction_both_ways_and_apostrophe_style() -> None:
    aug = ContractionAugmenter()

    def forms(text: str) -> dict[str, str]:
        return {text[s.start:s.end]: s.payload for s in aug.sites(text, tokenize(text))}

    assert forms("I am sure I do not know") == {"I am": "I'm", "do not": "don't"}
    assert forms("I’m sure we can’t go") == {"I’m": "I am", "can’t": "cannot"}
    assert forms("We are here, we’ll see") == {"We are": "We’re", "we’ll": "we will"}
    assert forms("it's been hard") == {"it's": "it has"}
    assert forms("DO NOT panic") == {"DO NOT": "DON'T"}
    assert forms("I have covid and she has it") == {}  # no "I've covid"


def test_char_augmenters_keep_case_and_skip_contractions() -> None:
    rng = make_rng(0, 0)
    text = "WORRIED Worried we're"
    sites = RandomCharAugmenter().sites(text, tokenize(text))
    assert [text[s.start:s.end] for s in sites] == ["WORRIED", "Worried"]
    upper = RandomCharAugmenter().replace(text, sites[0], rng)
    assert upper is not None and upper.isupper() and upper != "WORRIED"
    neighbours = keyboard_neighbours()
    typo = KeyboardAugmenter(CharConfig(char_p=0.01, char_max=1)).replace(text, sites[1], rng)
    assert typo is not None
    (changed,) = [(a, b) for a, b in zip("Worried", typo, strict=True) if a != b]
    assert changed[1].lower() in neighbours[changed[0].lower()]


def test_choose_pos_without_a_tagger() -> None:
    options = {"n": 5, "v": 3}
    assert choose_pos("test", None, options) == "n"  # commonest in WordNet's tagged senses
    assert choose_pos("test", "to", options) == "v"  # "to test"
    assert choose_pos("test", "the", options) == "n"
    assert choose_pos("sick", "am", {"a": 4, "n": 1}) == "a"
    assert choose_pos("quickly", None, {"r": 1, "a": 3}) == "r"
    assert choose_pos("word", None, {}) is None


@pytest.mark.parametrize("bad", [
    {"augmenters": ["nope"]}, {"augmenters": []}, {"word_p": 0}, {"word_p": 1.5},
    {"min_changes": 3, "max_changes": 2}, {"attempts": 0},
])
def test_config_validation(bad: dict) -> None:
    with pytest.raises(ValueError):
        AugmentConfig(**bad)


def test_other_configs_validate() -> None:
    with pytest.raises(ValueError, match="char_p"):
        CharConfig(char_p=0)
    with pytest.raises(ValueError, match="max_senses"):
        SynonymConfig(max_senses=9)
    with pytest.raises(ValueError, match="n must be"):
        Augmenter(augmenters=["char"]).augment(POST, 0)
    assert AugmentConfig(augmenters="char, keyboard").augmenters == ("char", "keyboard")
