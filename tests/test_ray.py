"""The scoring job on Ray Data with 2 local workers gives the single-process output, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from classifiers.cli import main
from classifiers.data import DataError
from classifiers.ray_engine import RaySettings, pack_directory, score_file_ray, sniff_table, unpack_directory
from classifiers.scoring import load_scorer, score_file
from tests.conftest_scale import digest, posts_frame, tiny_model

ray = pytest.importorskip("ray", reason="Ray Data is not installed (pip install 'ray[data]')")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 workers + 1 CPU for reading), shut down afterwards."""
    from classifiers import ray_engine

    started = ray_engine._connect(ray, RaySettings(workers=2))
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def finetuned(tiny_bert, toy_posts, tmp_path_factory) -> Path:
    return tiny_model("finetune", tiny_bert, toy_posts, tmp_path_factory.mktemp("ray-models"))


def _single_process(model_dir: Path, data: Path, out: Path, engine: str = "torch") -> str:
    model = load_scorer(model_dir, engine)
    score_file(data, out, model.predict_proba, model.labels, model.decide, chunksize=64, progress=False)
    return out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_two_local_workers_match_single_process(local_ray, finetuned, tmp_path):
    data = tmp_path / "posts.csv"
    posts_frame(300).to_csv(data, index=False)
    before = digest(data)
    expected = _single_process(finetuned, data, tmp_path / "single.csv")
    for engine in ("torch", "onnx"):
        out = tmp_path / f"ray-{engine}.csv"
        report = score_file_ray(data, out, finetuned, RaySettings(workers=2, batch_size=50, engine=engine),
                                progress=False)
        assert report.rows == 300
        frame, single = pd.read_csv(out, dtype=str), pd.read_csv(tmp_path / "single.csv", dtype=str)
        assert frame.id.tolist() == single.id.tolist(), "rows come back in input order"
        assert frame.predicted_label.tolist() == single.predicted_label.tolist()
        if engine == "torch":
            assert out.read_text(encoding="utf-8") == expected, "same columns, values and formatting"
    assert digest(data) == before


@pytest.mark.slow
def test_cli_ray_engine_on_headerless_tsv(local_ray, finetuned, tmp_path, capsys):
    data = tmp_path / "posts.tsv"
    frame = posts_frame(40)
    frame.assign(label=["0"] * 40).to_csv(data, sep="\t", index=False, header=False)
    out_ray, out_torch = tmp_path / "ray.tsv", tmp_path / "torch.tsv"
    common = ["--model", str(finetuned), "--data", str(data), "--no-header", "--text-column", "1"]
    assert main(["predict", *common, "--output", str(out_ray), "--engine", "ray", "--workers", "2",
                 "--batch-size", "16"]) == 0
    assert "on a local Ray, 2 workers" in capsys.readouterr().out
    assert main(["predict", *common, "--output", str(out_torch)]) == 0
    assert out_ray.read_text(encoding="utf-8") == out_torch.read_text(encoding="utf-8")


def test_settings_are_checked():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        RaySettings(workers=0)
    with pytest.raises(ValueError, match="'int8' with the onnx engine"):
        RaySettings(quantize="int8")
    with pytest.raises(ValueError, match="batch_size must be positive"):
        RaySettings(batch_size=0)


def test_model_directory_round_trips_through_the_object_store_format(finetuned):
    files = pack_directory(finetuned)
    copy = unpack_directory(files)
    assert sorted(p.name for p in copy.rglob("*") if p.is_file()) == sorted(Path(k).name for k in files)
    assert (copy / "classifier_config.json").read_bytes() == (finetuned / "classifier_config.json").read_bytes()


def test_sniff_matches_the_single_process_reader(tmp_path):
    data = tmp_path / "p.tsv"
    data.write_bytes("1\tcaf\xe9 fever today\t0\n2\tjust a day\t1\n".encode("latin-1"))
    table = sniff_table(data, text_column=None, header=None)
    assert table == {"columns": ["0", "1", "2"], "text_column": "1", "header": False, "encoding": "latin-1",
                     "sep": "\t"}


def test_jsonl_and_bad_files_are_refused_before_ray_starts(finetuned, tmp_path):
    data = tmp_path / "p.jsonl"
    data.write_text('{"text": "hi"}\n')
    with pytest.raises(DataError, match="the Ray engine reads CSV/TSV"):
        score_file_ray(data, tmp_path / "o.csv", finetuned)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        score_file_ray(empty, tmp_path / "o.csv", finetuned)
    good = tmp_path / "g.csv"
    good.write_text("text\nhello\n")
    with pytest.raises(ValueError, match="model directory not found"):
        score_file_ray(good, tmp_path / "o.csv", tmp_path / "nope")
