"""Loading and validation: every bad-input case gets a clear error naming file, rows and columns."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from classifiers.data import DataError, leak_report, load_table, normalize_text, remove_leaks, validate


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name,content", [
    ("a.csv", "text,label\nI have a fever,1\nnice day,0\n"),
    ("a.tsv", "tweet\tclass\nI have a fever\t1\nnice day\t0\n"),
    ("a.jsonl", '{"post": "I have a fever", "stance": "1"}\n{"post": "nice day", "stance": "0"}\n'),
])
def test_formats_and_column_autodetection(tmp_path, name, content):
    table = load_table(write(tmp_path / name, content))
    assert table.texts == ["I have a fever", "nice day"]
    assert table.labels == ["1", "0"]


def test_headerless_tsv_by_index(tmp_path):
    path = write(tmp_path / "train.tsv", "123\t9\tI think I have the virus, fever all night\t1\n124\t8\tnews about masks\t0\n")
    table = load_table(path, text_column=2, label_column=3, header=False)
    assert table.texts[0].startswith("I think I have")
    assert table.labels == ["1", "0"]


def test_headerless_tsv_guessed_like_smm4h(tmp_path):
    path = write(tmp_path / "train.tsv", "1239172732690014208\t2391447188\tWe're parking at the airport and my dad said we have the virus sir\t0\n"
                 "1223737201030246402\t1200539436167159809\tI have had a fever and a dry cough for three days now, getting tested\t1\n")
    table = load_table(path)
    assert table.text_column == "2" and table.label_column == "3"
    assert table.labels == ["0", "1"]


def test_latin1_fallback_warns(tmp_path):
    path = write(tmp_path / "l1.csv", "text,label\ncaf\xe9 fever,1\nnice day,0\n".encode("latin-1"))
    with pytest.warns(UserWarning, match="latin-1"):
        table = load_table(path)
    assert table.texts[0] == "café fever"
    assert table.encoding == "latin-1"


def test_html_entities_and_enclosing_quotes_are_cleaned():
    assert normalize_text('"I&#039;ve been fine &amp; well"') == "I've been fine & well"


@pytest.mark.parametrize("setup,match", [
    (lambda p: p / "missing.csv", "file not found"),
    (lambda p: p, "is a directory"),
    (lambda p: write(p / "empty.csv", ""), "empty"),
    (lambda p: write(p / "header.csv", "text,label\n"), "no rows"),
    (lambda p: write(p / "bin.csv", b"\x00\x01\x02binary"), "binary"),
    (lambda p: write(p / "bad.jsonl", '{"text": "a", "label": "1"}\n{not json\n'), "line 2 is not valid JSON"),
])
def test_unusable_files(tmp_path, setup, match):
    with pytest.raises(DataError, match=match):
        load_table(setup(tmp_path))


def test_missing_named_column_lists_columns(tmp_path):
    path = write(tmp_path / "a.csv", "body,label\nhello,1\n")
    with pytest.raises(DataError, match=r"no text column 'tweet'.*\['body', 'label'\]"):
        load_table(path, text_column="tweet")


def test_undetectable_columns(tmp_path):
    path = write(tmp_path / "a.csv", "foo,bar\nhello,1\n")
    with pytest.raises(DataError, match="--text-column"):
        load_table(path)


def test_empty_texts_and_unknown_labels_report_rows(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\nfever,1\n,0\nok,maybe\nfine,\nwell,0\n")
    before = digest(path)
    table = load_table(path)
    with pytest.raises(DataError) as err:
        validate(table, labels=["0", "1"])
    message = str(err.value)
    assert "empty text in column 'text': rows 2" in message
    assert "missing label in column 'label': rows 4" in message
    assert "['maybe']" in message and "rows 3" in message
    assert "--drop-invalid" in message
    with pytest.warns(UserWarning, match="dropping"):
        kept = validate(table, labels=["0", "1"], drop_invalid=True)
    assert kept.texts == ["fever", "well"]
    assert digest(path) == before, "the input file must never change"


def test_duplicates_and_conflicts(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\nfever,1\nfever,1\ncough,1\ncough,0\nfine,0\n")
    with pytest.warns(UserWarning) as record:
        table = validate(load_table(path))
    assert table.texts == ["fever", "fine"]
    messages = " ".join(str(w.message) for w in record)
    assert "1 duplicate" in messages and "conflicting labels" in messages


def test_leak_report(tmp_path):
    train = load_table(write(tmp_path / "train.csv", "text,label\nfever,1\nfine,0\nsame post,1\n"))
    test = load_table(write(tmp_path / "test.csv", "text,label\nsame post,1\nother,0\n"))
    assert leak_report(train, test) == ["same post"]
    with pytest.warns(UserWarning, match="1 texts also appear"):
        cleaned = remove_leaks(train, test)
    assert cleaned.texts == ["fever", "fine"]
