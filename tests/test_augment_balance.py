"""Balancing arithmetic for each target kind, original rows preferred, provenance columns, determinism."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from augment import Augmenter, Balancer, Target, balance, balance_report, balance_table, parse_target
from augment.balance import undersample
from tests.conftest_augment import NO_WORDNET, small_frame

FAST = list(NO_WORDNET[:3])  # char, keyboard, contraction: no WordNet needed


@pytest.mark.parametrize(("spec", "expected"), [
    ("max", {"a": 10, "b": 10, "c": 10}),
    ("6", {"a": 6, "b": 6, "c": 6}),
    (6, {"a": 6, "b": 6, "c": 6}),
    ("b=7,c=3", {"a": 10, "b": 7, "c": 3}),
    ("ratio:0.5", {"a": 10, "b": 5, "c": 5}),
    ("ratio:0.25", {"a": 10, "b": 4, "c": 3}),
])
def test_targets_resolve(spec: str | int, expected: dict[str, int]) -> None:
    assert parse_target(spec).resolve({"a": 10, "b": 4, "c": 2}) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("0", "positive"), ("lots", "not a number"), ("ratio:2", r"\(0, 1\]"), ("ratio:x", "not a number"),
    ("a=1,=2", "label=N"), ("a=-1", "positive"),
])
def test_bad_targets_are_explained(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(spec)


def test_per_label_target_with_unknown_label() -> None:
    with pytest.raises(ValueError, match=r"labels \['z'\] that are not in the data"):
        parse_target("z=5").resolve({"a": 1})


@pytest.mark.parametrize(("spec", "after", "augmented"), [
    ("max", {"neg": 8, "pos": 8}, {"pos": 5}),
    ("5", {"neg": 5, "pos": 5}, {"pos": 2}),
    ("neg=4,pos=6", {"neg": 4, "pos": 6}, {"pos": 3}),
    ("ratio:0.5", {"neg": 8, "pos": 4}, {"pos": 1}),
])
def test_balance_reaches_each_target(spec: str, after: dict[str, int], augmented: dict[str, int]) -> None:
    result = balance_report(small_frame(), target=spec, augmenters=FAST, seed=0)
    assert result.before == {"neg": 8, "pos": 3}
    assert result.after == after and result.augmented == augmented and result.shortfall == {}
    frame = result.frame
    assert frame["text"].is_unique
    originals = frame[~frame["is_augmented"]]
    assert set(originals[originals["label"] == "pos"]["id"]) == {"t8", "t9", "t10"}  # every minority original kept
    assert len(originals[originals["label"] == "neg"]) == after["neg"]  # majority: originals under-sampled only


def test_provenance_columns() -> None:
    source = small_frame()
    frame = balance(source, target="max", augmenters=FAST, seed=3)
    assert list(frame.columns) == ["id", "text", "label", "source_row", "is_augmented", "augmenters", "seed"]
    new = frame[frame["is_augmented"]]
    assert len(new) == 5
    for _, row in new.iterrows():
        origin = source.iloc[row["source_row"]]
        assert row["label"] == origin["label"] == "pos" and row["id"] == origin["id"]
        assert row["text"] != origin["text"]
        assert row["augmenters"] and set(row["augmenters"].split("+")) <= set(FAST)
        assert row["seed"] == 3
    old = frame[~frame["is_augmented"]]
    assert old["augmenters"].eq("").all() and old["seed"].isna().all()
    assert list(old["source_row"]) == sorted(old["source_row"])


def test_deterministic_for_a_seed() -> None:
    first = balance(small_frame(), target="max", augmenters=FAST, seed=1)
    again = balance(small_frame(), target="max", augmenters=FAST, seed=1)
    other = balance(small_frame(), target="max", augmenters=FAST, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["text"]) != list(other["text"])


def test_shortfall_warns_when_posts_cannot_give_enough_variants() -> None:
    with pytest.warns(UserWarning, match=r"reached 6 of its target 8 rows \(3 posts.*at most 1 variants.*per_example"):
        result = balance_report(small_frame(), target="max", augmenters=FAST, per_example=1, seed=0)
    assert result.shortfall == {"pos": 2} and result.after["pos"] == 6


def test_excluded_texts_are_never_produced() -> None:
    engine = Augmenter(augmenters=["contraction"])
    frame = pd.DataFrame({"text": ["I am ill", "I am sure it is fine"] + ["fine"] * 0 + ["ok then", "yes sir", "so so"],
                          "label": ["p", "p", "n", "n", "n"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = balance_report(frame, target="max", augmenter=engine, seed=0, exclude_texts=["I'm ill"])
    assert "I'm ill" not in set(result.frame["text"])


def test_rebalancing_drops_augmented_rows_before_originals() -> None:
    balanced = balance(small_frame(), target="max", augmenters=FAST, seed=0)
    smaller = balance(balanced, target="4", augmenters=FAST, seed=5)
    assert smaller["label"].value_counts().to_dict() == {"neg": 4, "pos": 4}
    pos = smaller[smaller["label"] == "pos"]
    assert (~pos["is_augmented"]).sum() == 3 and pos["is_augmented"].sum() == 1
    assert pos[pos["is_augmented"]]["seed"].iloc[0] == 0  # kept from the first run, provenance intact


def test_entities_are_decoded_in_the_output() -> None:
    frame = pd.DataFrame({"text": ["salt &amp; pepper", "fish &amp; chips today", "hello world again"],
                          "label": ["a", "b", "b"]})
    out = balance(frame, target="max", augmenters=FAST, seed=0)
    assert not out["text"].str.contains("&amp;").any()


def test_input_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"no column\(s\) \['tweet'\]"):
        balance(small_frame(), text_column="tweet", augmenters=FAST)
    broken = small_frame()
    broken.loc[2, "label"] = None
    with pytest.raises(ValueError, match=r"rows \[2\].*label"):
        balance(broken, augmenters=FAST)
    with pytest.raises(ValueError, match="per_example"):
        balance(small_frame(), per_example=0, augmenters=FAST)


def test_balancer_fit_resample() -> None:
    frame = small_frame()
    balancer = Balancer(target=Target(kind="max"), augmenters=FAST, seed=0)
    texts, labels = balancer.fit_resample(list(frame["text"]), list(frame["label"]))
    assert len(texts) == len(labels) == 16 and labels.count("pos") == 8
    assert balancer.result_ is not None and balancer.result_.augmented == {"pos": 5}


def test_balance_table_for_training(tmp_path: Path) -> None:
    from classifiers.data import load_table

    path = tmp_path / "train.csv"
    small_frame().to_csv(path, index=False)
    texts, labels = balance_table(load_table(path), "max", seed=0, augmenters=FAST)
    assert labels.count("neg") == labels.count("pos") == 8 and len(set(texts)) == 16


def test_undersample_with_one_class_left() -> None:
    kept = undersample([10, 11, 12, 13], ["a", "a", "a", "a"], {"a": 2}, seed=0)
    assert len(kept) == 2 and set(kept) <= {10, 11, 12, 13}
    assert undersample([1, 2], ["a", "b"], {"a": 0}, seed=0) == [2]
