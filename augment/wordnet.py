"""Offline WordNet: NLTK's reader over Debian's WordNet 3.0 files, without NLTK's downloader or POS tagger.

NLTK's downloader cannot reach its host here, so the database comes from the Debian packages
``wordnet-base`` and ``wordnet-sense-index`` (``/usr/share/wordnet``). NLTK's reader also wants a
``lexnames`` file that those packages lack: we build a private corpus folder in a cache directory
(copies of the Debian files, about 35 MB, plus a generated ``lexnames``) and never write into
``/usr/share``. Links would not do: this NLTK refuses symlinks that resolve outside the corpus root and
multiply-linked files, and reads only below a folder listed in ``nltk.data.path`` (we add the cache's
``nltk_data``).
Where neither Debian's files nor ``$WNSEARCHDIR`` exist, NLTK's own downloaded ``wordnet`` is used.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

DEBIAN_DIR = Path("/usr/share/wordnet")
INSTALL_HINT = "apt-get install wordnet-base wordnet-sense-index"
REQUIRED_FILES = (
    "data.noun", "data.verb", "data.adj", "data.adv",
    "index.noun", "index.verb", "index.adj", "index.adv",
    "noun.exc", "verb.exc", "adj.exc", "adv.exc",
)
OPTIONAL_FILES = ("cntlist.rev", "index.sense")

# WordNet 3.0's lexicographer files, as listed in lexnames(5WN); the number is the file's part of speech.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
_LEXNAME_POS = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


class WordNetMissingError(RuntimeError):
    """WordNet's database files are not installed; the message says which package provides them."""


def source_dir() -> Path:
    """Where the WordNet database is read from: ``$WNSEARCHDIR`` (WordNet's own variable) or Debian's folder."""
    configured = os.environ.get("WNSEARCHDIR")
    return Path(configured) if configured else DEBIAN_DIR


def cache_dir() -> Path:
    """The project's cache folder: ``$ALEX_CACHE_DIR`` (the agent's setting), else ``$XDG_CACHE_HOME/alex-health``."""
    configured = os.environ.get("ALEX_CACHE_DIR") or os.environ.get("ALEX_HEALTH_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "alex-health"


def check_source(source: Path) -> None:
    """Raise a clear error naming the package to install when WordNet's files are missing."""
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise WordNetMissingError(
            f"WordNet 3.0 was not found in {source} (missing {', '.join(missing[:4])}"
            f"{' ...' if len(missing) > 4 else ''}). Synonym augmentation needs it: install it with "
            f"`{INSTALL_HINT}` (Debian/Ubuntu), or set WNSEARCHDIR to a folder holding WordNet 3.0's "
            "data.* and index.* files, or leave 'synonym' out of --augmenters."
        )


def lexnames_text() -> str:
    """The ``lexnames`` file NLTK's reader needs: ``NN<TAB>name<TAB>pos`` per lexicographer file."""
    return "".join(
        f"{i:02d}\t{name}\t{_LEXNAME_POS[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


def prepare_corpus(source: Path, target: Path) -> Path:
    """Build (or reuse) a corpus folder for NLTK: links to ``source``'s files plus a generated lexnames."""
    check_source(source)
    target.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED_FILES + OPTIONAL_FILES + ("lexnames",):
        original = source / name
        if not original.is_file():
            continue
        _copy(original, target / name)
    if not (source / "lexnames").is_file():
        _write_if_changed(target / "lexnames", lexnames_text())
    return target


def _copy(original: Path, copy: Path) -> None:
    """Copy ``original`` to ``copy`` atomically, unless an identical copy (size and time) is already there."""
    source = original.stat()
    if copy.is_file() and not copy.is_symlink():
        current = copy.stat()
        if current.st_nlink == 1 and current.st_size == source.st_size and int(current.st_mtime) == int(source.st_mtime):
            return
    staged = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(original, staged)
        os.replace(staged, copy)
    finally:
        staged.unlink(missing_ok=True)


def _write_if_changed(path: Path, content: str) -> None:
    if path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == content:
        return
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staged.write_text(content, encoding="utf-8")
    os.replace(staged, path)


def corpus_dir() -> Path:
    """The private corpus folder inside the cache (a temporary folder when the cache is not writable)."""
    target = cache_dir() / "nltk_data" / "corpora" / "wordnet"
    try:
        return prepare_corpus(source_dir(), target)
    except OSError:  # read-only or foreign cache folder
        fallback = Path(tempfile.mkdtemp(prefix="alex-health-")) / "nltk_data" / "corpora" / "wordnet"
        logger.warning("cannot write to %s; using %s for WordNet's corpus folder", target, fallback)
        return prepare_corpus(source_dir(), fallback)


@functools.lru_cache(maxsize=4)
def _reader(root: str) -> Any:
    try:
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as err:  # pragma: no cover - nltk is a declared dependency
        raise ImportError("synonym augmentation needs NLTK: pip install nltk") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": we only need English
        return WordNetCorpusReader(root, None)


def load_wordnet() -> Any:
    """NLTK's WordNet reader over the offline database (loaded once per process and folder)."""
    try:
        check_source(source_dir())
    except WordNetMissingError:
        downloaded = _nltk_downloaded_wordnet()
        if downloaded is None:
            raise
        return downloaded
    return _reader(str(register_with_nltk()))


def register_with_nltk() -> Path:
    """Prepare the private corpus and list its ``nltk_data`` in ``nltk.data.path`` (NLTK reads only there).

    This also lets ``nltk.corpus.wordnet`` (used by nlpaug's stock SynonymAug) find the offline database.
    """
    import nltk

    corpus = corpus_dir()
    nltk_data = str(corpus.parents[1])
    if nltk_data not in [str(p) for p in nltk.data.path]:
        nltk.data.path.insert(0, nltk_data)
    return corpus


def _nltk_downloaded_wordnet() -> Any | None:
    """NLTK's own ``wordnet`` corpus, when someone installed it with ``nltk.download``; else None."""
    try:
        import nltk

        nltk.data.find("corpora/wordnet")
        from nltk.corpus import wordnet

        wordnet.synsets("dog")  # the lazy loader reads the corpus now (LookupError if it is unusable)
        return wordnet
    except (ImportError, LookupError, OSError, ValueError):
        return None


_POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
MAX_SENSES = 3  # senses kept per word and part of speech; synonyms of rarer senses mislead more than help


class Entry(NamedTuple):
    """One lemma's part of speech in WordNet's index: how often it was seen (SemCor) and its first senses."""

    tagged: int
    offsets: tuple[int, ...]


def read_index(reader: Any) -> dict[str, dict[str, Entry]]:
    """lemma -> {part of speech: Entry} from WordNet's index files.

    ``tagged`` (``tagsense_cnt``) tells how often the word was seen with that part of speech, which lets
    us pick one without NLTK's POS tagger (whose data cannot be downloaded here). Keeping the offsets of
    the first senses lets us build only the synsets we use (NLTK's ``synsets()`` builds them all).
    """
    index: dict[str, dict[str, Entry]] = {}
    for pos, name in _POS_FILES.items():
        with reader.open(f"index.{name}") as handle:
            for line in handle:
                if line.startswith(" "):
                    continue  # licence header
                fields = line.split()
                pointers = int(fields[3])
                senses = int(fields[2])
                offsets = tuple(int(o) for o in fields[6 + pointers:6 + pointers + min(senses, MAX_SENSES)])
                index.setdefault(fields[0], {})[pos] = Entry(int(fields[5 + pointers]), offsets)
    return index


class Lexicon:
    """Exact-lemma WordNet lookups, cached per word: which parts of speech a word has, and its synonyms."""

    def __init__(self, reader: Any, index: dict[str, dict[str, Entry]]) -> None:
        self.reader = reader
        self.index = index
        self._synonyms: dict[tuple[str, str, int], tuple[str, ...]] = {}

    def parts_of_speech(self, word: str) -> dict[str, int]:
        """{pos: tagged sense count} for a word that is itself a WordNet lemma (inflected forms: empty)."""
        return {pos: entry.tagged for pos, entry in self.index.get(word.lower().replace(" ", "_"), {}).items()}

    def is_inflected(self, word: str) -> bool:
        """True for inflected verb or adjective forms ("said", "paying", "better"): a synonym of the
        lemma that happens to share the spelling ("said" -> adjective "aforesaid") would change the meaning."""
        lowered = word.lower()
        for pos in ("v", "a"):
            base = self.reader.morphy(lowered, pos)
            if base is not None and base != lowered:
                return True
        return False

    def synonyms(self, word: str, pos: str, max_senses: int = 1) -> tuple[str, ...]:
        """Lemmas sharing one of the word's ``max_senses`` commonest senses (``pos`` in n, v, a, r).

        Only senses listing the word itself count (no morphological guesses: "masks" is not "mask"),
        so a replacement keeps the word's form; WordNet lists a word's senses commonest first.
        """
        if not 1 <= max_senses <= MAX_SENSES:
            raise ValueError(f"max_senses must be between 1 and {MAX_SENSES}, got {max_senses}")
        key = (word.lower(), pos, max_senses)
        cached = self._synonyms.get(key)
        if cached is None:
            cached = self._lookup(*key)
            self._synonyms[key] = cached
        return cached

    def _lookup(self, word: str, pos: str, max_senses: int) -> tuple[str, ...]:
        entry = self.index.get(word.replace(" ", "_"), {}).get(pos)
        if entry is None:
            return ()
        found: list[str] = []
        for offset in entry.offsets[:max_senses]:
            for name in self.reader.synset_from_pos_and_offset(pos, offset).lemma_names():
                candidate = name.replace("_", " ")
                if _usable(candidate, word) and candidate not in found:
                    found.append(candidate)
        return tuple(found)


def _usable(candidate: str, word: str) -> bool:
    """Plain lower-case words (no proper nouns, digits or long phrases) that differ from the word."""
    return (
        candidate.lower() != word
        and candidate.islower()
        and all(part.isalpha() for part in candidate.replace("-", " ").split())
        and candidate.count(" ") <= 2
    )


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The process-wide WordNet lexicon (a few seconds to load the first time)."""
    reader = load_wordnet()
    return Lexicon(reader, read_index(reader))
