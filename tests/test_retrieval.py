"""The FAISS example index: search, exact vs IVF vs HNSW, save/load round trips, adding, and broken folders."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from agent.retrieval import ExampleIndex, IndexConfig, Neighbour
from tests.conftest_explain import TRAIN, FakeEncoder

TEXTS = [t for t, _ in TRAIN]
LABELS = [lab for _, lab in TRAIN]


@pytest.fixture
def index() -> ExampleIndex:
    return ExampleIndex.build(TEXTS, LABELS, [f"r{i}" for i in range(len(TEXTS))], FakeEncoder())


def test_search_returns_the_example_itself_first(index):
    hits = index.search(TEXTS[3], k=3)
    assert [type(h) for h in hits] == [Neighbour] * 3
    assert hits[0] == Neighbour(id="r3", text=TEXTS[3], label="negative", similarity=pytest.approx(1.0, abs=1e-5))
    assert hits[0].similarity >= hits[1].similarity >= hits[2].similarity
    assert index.kind == "flat" and len(index) == len(TEXTS) and index.dim == 64


def test_search_of_several_texts_and_k_limits(index):
    many = index.search([TEXTS[0], TEXTS[6]], k=2)
    assert [[h.id for h in hits][0] for hits in many] == ["r0", "r6"]
    assert len(index.search("terrible awful", k=100)) == len(TEXTS)
    assert index.search("anything", k=0) == []
    with pytest.raises(ValueError, match="k must be"):
        index.search("anything", k=-1)


def test_similar_words_rank_higher(index):
    hits = index.search("terrible awful headache", k=2)
    assert {h.label for h in hits} == {"negative"}


def test_round_trip_keeps_results_and_header(index, tmp_path):
    index.save(tmp_path / "idx")
    header = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert header["format"] == "alex-example-index" and header["version"] == 1
    assert header["encoder"] == "fake-hash" and header["index_type"] == "flat" and header["count"] == len(TEXTS)
    loaded = ExampleIndex.load(tmp_path / "idx", encoder=FakeEncoder())
    assert loaded.search(TEXTS[5], k=3) == index.search(TEXTS[5], k=3)
    assert loaded.labels == ["negative", "neutral", "positive"]


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_large_sets_use_the_large_index_and_round_trip(tmp_path, kind):
    config = IndexConfig(flat_limit=5, large_index=kind, nprobe=3, hnsw_m=8, ef_search=16)
    index = ExampleIndex.build(TEXTS, LABELS, encoder=FakeEncoder(), config=config)
    assert index.kind == kind
    index.save(tmp_path / "h")
    header = json.loads((tmp_path / "h" / "index.json").read_text())
    assert header["index_type"] == kind and header["large_index"] == kind and header["nprobe"] == 3
    loaded = ExampleIndex.load(tmp_path / "h", encoder=FakeEncoder())
    assert loaded.kind == kind and loaded.config.ef_search == 16 and loaded.config.nprobe == 3
    assert loaded.search(TEXTS[2], k=1)[0].id == "2"
    assert ExampleIndex.load(tmp_path / "h", encoder=FakeEncoder(), nprobe=7).config.nprobe == 7


def test_ivf_finds_stored_vectors_among_thousands():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((4000, 32)).astype(np.float32)
    ids = [f"v{i}" for i in range(len(vectors))]
    index = ExampleIndex.from_vectors(vectors, ids, ["a"] * len(ids), ids, encoder_name="test",
                                      config=IndexConfig(flat_limit=1000))
    assert index.kind == "ivf" and index.index.nlist == 102  # 4000 // 39 cells: enough points to train each
    queries = vectors[::97] + 0.05 * rng.standard_normal((len(vectors[::97]), 32)).astype(np.float32)
    found = [hits[0].id for hits in index.search_vectors(queries, k=3)]
    assert found == ids[::97]


def test_add_without_rebuild_and_switch_to_the_large_index(index):
    before = index.index
    index.add(["Useless pills, terrible awful taste"], ["negative"], ["new1"])
    assert index.index is before and len(index) == len(TEXTS) + 1
    assert index.search("useless pills taste", k=1)[0].id == "new1"
    with pytest.raises(ValueError, match="already in the index"):
        index.add(["again"], ["neutral"], ["new1"])
    small = ExampleIndex.build(TEXTS[:3], LABELS[:3], encoder=FakeEncoder(), config=IndexConfig(flat_limit=4))
    small.add(TEXTS[3:], LABELS[3:])
    assert small.kind == "ivf" and len(small) == len(TEXTS) and small.index.ntotal == len(TEXTS)
    assert small.search(TEXTS[7], k=1)[0].text == TEXTS[7]
    small.add(["one more review"], ["neutral"], ["extra"])  # added to the trained cells, no rebuild
    assert small.index.ntotal == len(TEXTS) + 1 and small.search("one more review", k=1)[0].id == "extra"


def test_loaded_index_loads_its_encoder_lazily(index, tmp_path, monkeypatch):
    index.save(tmp_path / "idx")
    made = []
    monkeypatch.setattr("agent.retrieval.load_encoder", lambda name: made.append(name) or FakeEncoder())
    loaded = ExampleIndex.load(tmp_path / "idx")
    assert made == []
    loaded.search("great", k=1)
    assert made == ["fake-hash"]


def test_build_rejects_bad_input():
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        ExampleIndex.build(["a", "b"], ["x"], encoder=FakeEncoder())
    with pytest.raises(ValueError, match="unique"):
        ExampleIndex.build(["a", "b"], ["x", "y"], ["1", "1"], encoder=FakeEncoder())
    with pytest.raises(ValueError, match="empty texts"):
        ExampleIndex.build(["a", "  "], ["x", "y"], encoder=FakeEncoder())
    with pytest.raises(ValueError, match="no examples"):
        ExampleIndex.build([], [], encoder=FakeEncoder())
    with pytest.raises(TypeError):
        ExampleIndex.build("abc", ["x"], encoder=FakeEncoder())


def test_load_errors_name_the_problem(index, tmp_path):
    with pytest.raises(FileNotFoundError, match="index directory not found"):
        ExampleIndex.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not an example index"):
        ExampleIndex.load(tmp_path / "empty")
    index.save(tmp_path / "idx")
    vectors = tmp_path / "idx" / "index.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        ExampleIndex.load(tmp_path / "idx")
    index.save(tmp_path / "idx2")
    lines = (tmp_path / "idx2" / "examples.jsonl").read_text().splitlines()
    (tmp_path / "idx2" / "examples.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="incomplete"):
        ExampleIndex.load(tmp_path / "idx2")


def test_save_is_atomic_and_keeps_sidecar_files(index, tmp_path, monkeypatch):
    target = tmp_path / "idx"
    index.save(target, extra_files={"task.json": {"task": "t", "labels": {"positive": "good"}}})
    (target / "policy.json").write_text('{"format": "alex-policy"}')
    index.add(["one more great pill"], ["positive"], ["x"])
    index.save(target)
    assert (target / "policy.json").read_text() == '{"format": "alex-policy"}'
    assert json.loads((target / "task.json").read_text())["labels"] == {"positive": "good"}

    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(faiss, "write_index", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        index.save(target)
    assert ExampleIndex.load(target, encoder=FakeEncoder()).search("one more great pill", k=1)[0].id == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_from_vectors_matches_exact_search():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    index = ExampleIndex.from_vectors(vectors, [f"t{i}" for i in range(50)], ["a"] * 50, encoder_name="random")
    hits = index.search_vectors(vectors[7:8], k=1)
    assert hits[0][0].id == "7" and hits[0][0].similarity == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_real_minilm_index_finds_a_paraphrase(tmp_path):
    texts = ["This medication stopped my migraines completely.", "I gained a lot of weight on this pill.",
             "The injection site hurt but my skin cleared up.", "No change at all after three months."]
    index = ExampleIndex.build(texts, ["positive", "negative", "neutral", "negative"])
    assert index.encoder_name == "embedded" and index.dim == 384
    assert index.search("My headaches went away thanks to this drug", k=1)[0].text == texts[0]
    index.save(tmp_path / "real")
    assert ExampleIndex.load(tmp_path / "real").search("put on weight", k=1)[0].text == texts[1]
