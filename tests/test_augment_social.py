"""Protection of mentions, URLs, hashtags, emojis, numbers and negations; normalisation; detokenisation."""

from __future__ import annotations

import re

import pytest

from augment import Augmenter, make_rng
from augment.social import (
    EMOJI,
    ENTITY,
    HASHTAG,
    KEPT,
    MENTION,
    NEGATION,
    NUMBER,
    PUNCT,
    URL,
    WORD,
    detokenize,
    is_negation,
    normalize,
    tokenize,
)
from augment.synonym import SynonymAugmenter
from tests.conftest_augment import NO_WORDNET, POST, PROTECTED, fake_lexicon

FAKE_SYNONYMS = {"synonym": lambda config: SynonymAugmenter(config.synonym, lexicon_factory=fake_lexicon)}
EVERY = (*NO_WORDNET, "synonym")
NEGATED = ("I am not sick, no fever, never tested and I don't feel bad, can’t say more, "
           "@doctor_who https://x.co/a #notsick 😷 :face_with_mask: 100% sure the doctor did test me")


def kinds(text: str, keep: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(t.kind, text[t.start:t.end]) for t in tokenize(text, keep)]


def test_tokenize_types_social_spans() -> None:
    text = "@bob_1 see https://t.co/Ab9?x=1. #COVID19 😷😷 :face_with_mask: &amp; 20,000 covid19 don’t never test"
    assert kinds(text, keep=("test",)) == [
        (MENTION, "@bob_1"), (WORD, "see"), (URL, "https://t.co/Ab9?x=1"), (PUNCT, "."), (HASHTAG, "#COVID19"),
        (EMOJI, "😷😷"), (EMOJI, ":face_with_mask:"), (ENTITY, "&amp;"), (NUMBER, "20"), (PUNCT, ","),
        (NUMBER, "000"), (NUMBER, "covid19"), (NEGATION, "don’t"), (NEGATION, "never"), (KEPT, "test"),
    ]


@pytest.mark.parametrize("word", ["not", "No", "NEVER", "n't", "don't", "can’t", "cannot", "wont", "nothing"])
def test_negations(word: str) -> None:
    assert is_negation(word)


def test_normalize_decodes_entities_and_optionally_replaces_handles_and_links() -> None:
    text = "@bob &amp; @Ann_2 read https://t.co/x &lt;3 me@mail.com"
    assert normalize(text) == "@bob & @Ann_2 read https://t.co/x <3 me@mail.com"
    assert normalize(text, users=True, urls=True) == "@USER & @USER read HTTPURL <3 me@mail.com"


@pytest.mark.parametrize(("joined", "expected"), [
    ("I ' m sure I don ' t know .", "I'm sure I don't know."),
    ("We ’ re parking , said “ we have it ” !", "We’re parking, said “we have it”!"),
    ("( really ) it ' s fine ?", "(really) it's fine?"),
    ("@ bob and # covid", "@bob and #covid"),
])
def test_detokenize_repairs_token_joined_text(joined: str, expected: str) -> None:
    assert detokenize(joined) == expected


def _negation_words(text: str) -> list[str]:
    return [text[t.start:t.end].lower().replace("’", "'") for t in tokenize(text) if t.kind == NEGATION]


@pytest.mark.parametrize("name", EVERY)
def test_every_augmenter_keeps_protected_spans(name: str) -> None:
    engine = Augmenter(augmenters=[name], factories=FAKE_SYNONYMS, word_p=0.5)
    outputs = engine.augment(NEGATED, 20, seed=11) + engine.augment(POST, 20, seed=11)
    assert outputs
    for text in outputs:
        source = NEGATED if "@doctor_who" in text else POST
        for span in [*PROTECTED, "@doctor_who", "https://x.co/a", "#notsick", "😷", ":face_with_mask:", "100%"]:
            if span in source:
                assert span in text, (name, span, text)
        if name != "contraction":
            assert _negation_words(text) == _negation_words(source), (name, text)


def test_contractions_reshape_negations_without_losing_them() -> None:
    engine = Augmenter(augmenters=["contraction"], word_p=1.0)
    for text in engine.augment(NEGATED, 10, seed=0):
        assert len(_negation_words(text)) == len(_negation_words(NEGATED)), text


def test_output_reads_like_the_input() -> None:
    """No stray spaces around apostrophes or punctuation: the non-word skeleton is unchanged."""
    text = "I'm fine... really?! (No.) She's “sure”, we’re not; it's 5pm -- ok"

    def skeleton(value: str) -> str:
        return re.sub(r"[^\W\d_]+", "w", value)

    for variant in Augmenter(augmenters=["char", "keyboard", "synonym"], factories=FAKE_SYNONYMS,
                             word_p=1.0).variants(text, 10, rng=make_rng(0, 0)):
        assert skeleton(variant.text) == skeleton(text)
        assert " '" not in variant.text and " ’" not in variant.text and " ." not in variant.text


def test_keep_words_are_never_changed() -> None:
    engine = Augmenter(augmenters=["char", "keyboard", "swap", "delete"], keep_words=frozenset({"COVID"}), word_p=1.0)
    for text in engine.augment("covid symptoms include fever and tiredness", 10, seed=0):
        assert "covid" in text


def test_normalisation_options_apply_to_variants() -> None:
    engine = Augmenter(augmenters=["char"], normalize_users=True, normalize_urls=True)
    for text in engine.augment("@bob look at https://t.co/abc &amp; tell everyone", 5, seed=0):
        assert text.startswith("@USER look") or text.startswith("@USER ")
        assert "HTTPURL" in text and "&amp;" not in text and "&" in text


def test_stray_space_measure_used_by_the_benchmark() -> None:
    from bench.augment_bench import stray_rate

    assert stray_rate([("I'm ok.", "I ' m ok ."), ("a b.", "a c."), ("said “we”", "said “ we”")]) == 2 / 3
