"""Offline WordNet: the private corpus folder, the clear error when WordNet is missing, real lookups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from augment import Augmenter, WordNetMissingError
from augment import wordnet as wn
from tests.conftest_augment import REPO, requires_wordnet


@pytest.fixture
def fresh_wordnet_caches():
    """The loaders cache per process; clear them around tests that change where WordNet is."""
    wn.load_lexicon.cache_clear()
    yield
    wn.load_lexicon.cache_clear()


def test_lexnames_matches_wordnet_30() -> None:
    lines = wn.lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[44] == "44\tadj.ppl\t3"
    assert lines[29] == "29\tverb.body\t2" and lines[2] == "02\tadv.all\t4"


def test_prepare_corpus_copies_and_adds_lexnames_without_touching_the_source(tmp_path: Path) -> None:
    source = tmp_path / "dict"
    source.mkdir()
    for name in wn.REQUIRED_FILES + ("cntlist.rev",):
        (source / name).write_text(f"contents of {name}\n")
    source.chmod(0o555)
    try:
        target = wn.prepare_corpus(source, tmp_path / "cache" / "wordnet")
        assert (target / "lexnames").read_text() == wn.lexnames_text()
        assert (target / "data.noun").read_text() == "contents of data.noun\n"
        assert not (target / "data.noun").is_symlink() and os.stat(target / "data.noun").st_nlink == 1
        assert sorted(p.name for p in source.iterdir()) == sorted(wn.REQUIRED_FILES + ("cntlist.rev",))
        assert wn.prepare_corpus(source, target) == target  # reused, no error
    finally:
        source.chmod(0o755)


def test_missing_wordnet_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(WordNetMissingError, match="apt-get install wordnet-base"):
        wn.check_source(tmp_path)


def test_synonym_augmenter_fails_clearly_without_wordnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         fresh_wordnet_caches: None) -> None:
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    monkeypatch.setattr(wn, "_nltk_downloaded_wordnet", lambda: None)
    with pytest.raises(WordNetMissingError) as info:
        Augmenter(augmenters=["char", "synonym"])
    assert "wordnet-base" in str(info.value) and str(tmp_path) in str(info.value)
    assert Augmenter(augmenters=["char"]).augment("nothing needs wordnet here", 1, seed=0)


def test_cli_reports_missing_wordnet_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "WNSEARCHDIR": str(tmp_path), "NLTK_DATA": str(tmp_path), "HOME": str(tmp_path),
           "ALEX_HEALTH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "augment", "text", "I feel sick", "--augmenters", "synonym"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "wordnet-base" in done.stderr and "Traceback" not in done.stderr and "LookupError" not in done.stderr


@requires_wordnet
@pytest.mark.slow  # builds a fresh corpus folder and loads WordNet (several seconds)
def test_real_wordnet_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_wordnet_caches: None) -> None:
    monkeypatch.setenv("ALEX_HEALTH_CACHE", str(tmp_path))
    lexicon = wn.load_lexicon()
    assert (tmp_path / "nltk_data" / "corpora" / "wordnet" / "lexnames").is_file()
    assert lexicon.parts_of_speech("sick")["a"] > lexicon.parts_of_speech("sick")["n"]
    assert "ill" in lexicon.synonyms("sick", "a")
    assert lexicon.synonyms("hospital", "n") == ("infirmary",)
    assert lexicon.is_inflected("said") and lexicon.is_inflected("paying") and not lexicon.is_inflected("sick")
    assert lexicon.parts_of_speech("masks") == {}  # only exact lemmas


@requires_wordnet
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The multilingual functions")
def test_falls_back_to_a_wordnet_nltk_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 fresh_wordnet_caches: None) -> None:
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    nltk_data = tmp_path / "nltk_data"
    wn.prepare_corpus(wn.source_dir(), nltk_data / "corpora" / "wordnet")  # what nltk.download would leave
    monkeypatch.setattr(nltk.data, "path", [str(nltk_data)])
    # a fresh lazy loader, so the process-wide nltk.corpus.wordnet is not bound to this temporary folder
    monkeypatch.setattr(nltk.corpus, "wordnet", LazyCorpusLoader("wordnet", WordNetCorpusReader, None))
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path / "empty"))
    reader = wn.load_wordnet()
    assert reader.synsets("hospital")[0].lemma_names() == ["hospital", "infirmary"]
