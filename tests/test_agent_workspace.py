"""The working set behind the agent: cache keys, background preparation, settings changes, training on a file."""

from __future__ import annotations

import pytest

from agent.preparation import Preparation
from agent.training import holdout_split, train_on_file
from agent.workspace import cache_entry, data_key, is_cached
from classifiers.data import load_table
from tests.conftest_agent import StubLLM, make_workspace, write_train_file


def test_cache_key_follows_the_data(tmp_path):
    first = write_train_file(tmp_path, name="a.tsv")
    second = write_train_file(tmp_path, [("different text here", "x"), ("another one", "y")], name="b.tsv")
    assert data_key(first, "head") != data_key(second, "head")
    assert data_key(first, "head") != data_key(first, "finetune")
    assert not is_cached(cache_entry(first, None, tmp_path / "cache"))


def test_preparation_reports_progress_and_errors():
    def build(progress):
        progress(0.5, "half way")
        return 42

    done = Preparation(build).start()
    assert done.result(timeout=10) == 42 and done.ready
    assert done.state() == (1.0, "ready", True)

    def broken(progress):
        raise ValueError("no data")

    failed = Preparation(broken, name="prep").start()
    with pytest.raises(RuntimeError, match="prep failed: no data"):
        failed.result(timeout=10)
    assert failed.state()[1] == "failed: no data"


def test_configure_rebuilds_the_explainer(tmp_path):
    workspace = make_workspace(tmp_path, StubLLM(label="positive"))
    before = workspace.parts.explainer
    settings = workspace.configure(policy="alex", neighbours=2)
    assert settings.policy == "alex" and workspace.parts.explainer is not before
    assert workspace.parts.explainer.config.k == 2
    assert workspace.explain("It did nothing for me, still in agony").final_label == "positive"
    with pytest.raises(ValueError, match="ALEX_POLICY"):
        workspace.configure(policy="coin_flip")


def test_holdout_split_is_stratified_and_refuses_tiny_classes(tmp_path):
    rows = [(f"post number {i} about pills", "a" if i % 2 else "b") for i in range(20)]
    table = load_table(write_train_file(tmp_path, rows))
    train, test = holdout_split(table)
    assert len(train) == 16 and len(test) == 4
    assert sorted(test.labels) == ["a", "a", "b", "b"]
    assert not set(train.texts) & set(test.texts)
    tiny = load_table(write_train_file(tmp_path, rows[:4] + [("a lonely post here", "c")], name="tiny.tsv"))
    with pytest.raises(ValueError, match=r"labels \['c'\] have fewer than 2 rows"):
        holdout_split(tiny)


@pytest.mark.slow
def test_training_on_a_file_switches_the_chat_model(tmp_path):
    """The real quick head on 60 drugs.com posts (MiniLM embeddings): a minute at most on 2 cores."""
    from tests.conftest import DATA

    table = load_table(DATA / "drugsComTrain.tsv")
    frame = table.frame.groupby(table.label_column, group_keys=False).head(20)
    upload = tmp_path / "upload.csv"
    frame[[table.text_column, table.label_column]].to_csv(upload, index=False)
    workspace = make_workspace(tmp_path, StubLLM())
    steps = []
    outcome = train_on_file(workspace, upload, progress=lambda fraction, message: steps.append(fraction))
    assert outcome.train_rows == 48 and outcome.test_rows == 12
    assert set(outcome.labels) == {"negative", "neutral", "positive"}
    assert 0.0 <= outcome.metrics["macro_f1"] <= 1.0 and outcome.metrics["n"] == 12
    assert steps == sorted(steps) and steps[-1] == 1.0
    assert workspace.parts.model_dir == outcome.model_dir and len(workspace.parts.index) == 48
    assert workspace.explain("This medicine helped me a lot").final_label in outcome.labels
