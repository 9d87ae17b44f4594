"""Bad input through the classifier CLI and Python API: a clear error or a sensible result, never a traceback,
never a changed input file; and a crash while saving never damages the model already in place."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classifiers import TextClassifier
from classifiers.cli import main
from classifiers.data import DataError, load_table
from tests.conftest_scale import REPO, digest, run_cli, tiny_model

LONG_POST = "I have had a fever for days and " * 3125  # 100,000 characters
ODD_POSTS = {
    "empty": "",
    "whitespace": " \t  \u00a0 ",
    "long_100k": LONG_POST,
    "control_chars": "fever\x01\x07\x08 and \x1b[31mcough\x7f\u200b\ufeff\r",
    "only_emojis": "🤒😷🦠💉🤒😷",
    "russian": "У меня температура и кашель, тест на ковид положительный",
    "chinese": "我发烧了，新冠检测阳性",
    "arabic": "أنا مصاب بالحمى والسعال",
    "html_entities": "I &amp; my mom tested &quot;positive&quot; &#128567;",
    "quotes_and_commas": '"fever, cough", and "chills"',
}


@pytest.fixture(scope="module")
def models(tiny_bert, toy_posts, tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("reliability-models")
    return {m: tiny_model(m, tiny_bert, toy_posts, base) for m in ("head", "finetune")}


@pytest.fixture()
def inputs(tmp_path) -> Path:
    """A folder for input files (each test checks their bytes are identical after every command)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    return folder


def snapshot(*paths: Path) -> dict[Path, str]:
    return {p: digest(p) for p in paths if p.is_file()}


def assert_unchanged(before: dict[Path, str]) -> None:
    for path, value in before.items():
        assert digest(path) == value, f"input {path} was changed"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


# --- odd posts are scored, not rejected -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(ODD_POSTS))
def test_cli_predict_scores_odd_posts(models, inputs, tmp_path, capsys, kind):
    data = inputs / "posts.csv"
    pd.DataFrame({"text": [ODD_POSTS[kind], "tested positive for covid, fever"]}).to_csv(data, index=False)
    before = snapshot(data)
    out = tmp_path / "pred.csv"
    code, stdout, err = cli(capsys, "predict", "--model", str(models["head"]), "--data", str(data), "--output", str(out))
    assert code == 0, err
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(frame) == 2 and set(frame.predicted_label) <= {"0", "1"}
    assert np.allclose(frame.proba_0.astype(float) + frame.proba_1.astype(float), 1.0, atol=2e-6)
    if kind == "long_100k":
        assert "1 posts were longer than the model's 32-token window and were truncated" in stdout
    assert_unchanged(before)


@pytest.mark.parametrize("kind", sorted(ODD_POSTS))
def test_api_predict_proba_handles_odd_posts(models, kind):
    model = TextClassifier.from_pretrained(models["head"])
    proba = model.predict_proba(ODD_POSTS[kind])
    assert proba.shape == (1, 2) and np.isfinite(proba).all()
    assert model.predict([ODD_POSTS[kind]])[0] in model.labels


def test_api_long_post_is_truncated_with_a_note(models):
    model = TextClassifier.from_pretrained(models["finetune"])
    with pytest.warns(UserWarning, match="truncat"):
        model.predict_proba(LONG_POST)


def test_onnx_api_long_post_is_truncated_with_a_note(models):
    from classifiers.onnx_backend import OnnxClassifier

    with pytest.warns(UserWarning, match="truncated"):
        proba = OnnxClassifier.from_pretrained(models["finetune"]).predict_proba(LONG_POST)
    assert proba.shape == (1, 2)


@pytest.mark.parametrize("bad,message", [
    ([None], r"items \[0\] are not"),
    (["ok", 3.5], r"items \[1\] are not"),
    ([b"bytes"], r"items \[0\] are not"),
])
def test_api_refuses_non_strings(models, bad, message):
    with pytest.raises(TypeError, match=message):
        TextClassifier.from_pretrained(models["head"]).predict_proba(bad)


def test_api_nul_bytes_in_a_post_are_scored(models):
    proba = TextClassifier.from_pretrained(models["head"]).predict_proba("fever\x00\x00 today")
    assert proba.shape == (1, 2) and np.isfinite(proba).all()


def test_cli_nul_bytes_in_a_file_are_refused_as_binary(models, inputs, tmp_path, capsys):
    data = inputs / "nul.csv"
    data.write_bytes(b"text\nfever\x00 today\n")
    code, _, err = cli(capsys, "predict", "--model", str(models["head"]), "--data", str(data), "--output",
                       str(tmp_path / "o.csv"))
    assert code == 2 and "binary file" in err


def test_api_empty_list_gives_empty_result(models):
    assert TextClassifier.from_pretrained(models["head"]).predict_proba([]).shape == (0, 2)


# --- unusable files ---------------------------------------------------------------------------------------------

def _write_bad(folder: Path, kind: str) -> Path:
    path = folder / ("junk.bin.csv" if kind == "binary" else f"{kind}.csv")
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path = folder / "a_folder.csv"
        path.mkdir()
    elif kind == "no_text_column":
        path.write_text("id,body\n1,fever\n2,cough\n")
    elif kind == "header_only":
        path.write_text("text,label\n")
    return path


@pytest.mark.parametrize("kind,message", [
    ("binary", "binary file"),
    ("empty", "the file is empty"),
    ("directory", "is a directory"),
    ("no_text_column", "no text column 'tweet'; the columns are ['id', 'body']"),
    ("missing", "file not found"),
])
def test_cli_predict_refuses_unusable_files(models, inputs, tmp_path, capsys, kind, message):
    data = _write_bad(inputs, kind) if kind != "missing" else inputs / "missing.csv"
    before = snapshot(data)
    extra = ["--text-column", "tweet"] if kind == "no_text_column" else []
    out = tmp_path / "pred.csv"
    code, _, err = cli(capsys, "predict", "--model", str(models["head"]), "--data", str(data), "--output", str(out),
                       *extra)
    assert code == 2 and message in err and str(data.name) in err
    assert not out.exists()
    assert_unchanged(before)


@pytest.mark.parametrize("kind,message", [
    ("binary", "binary file"),
    ("empty", "the file is empty"),
    ("directory", "is a directory"),
    ("header_only", "has a header but no rows"),
])
def test_cli_evaluate_and_train_refuse_unusable_files(models, inputs, tmp_path, capsys, kind, message):
    data = _write_bad(inputs, kind)
    before = snapshot(data)
    code, _, err = cli(capsys, "evaluate", "--model", str(models["head"]), "--data", str(data))
    assert code == 2 and message in err
    code, _, err = cli(capsys, "train", "--train", str(data), "--output", str(tmp_path / "m"))
    assert code == 2 and message in err and not (tmp_path / "m").exists()
    assert_unchanged(before)


def test_invalid_label_values_are_named(models, inputs, tmp_path, capsys):
    data = inputs / "labelled.csv"
    pd.DataFrame({"text": ["fever today", "nice day", "cough", "sunny"], "label": ["1", "0", "maybe", "2"]}).to_csv(
        data, index=False)
    before = snapshot(data)
    code, _, err = cli(capsys, "evaluate", "--model", str(models["head"]), "--data", str(data))
    assert code == 2 and "labels ['2', 'maybe'] not in the label set ['0', '1']" in err and "rows 3, 4" in err
    code, _, err = cli(capsys, "train", "--train", str(data), "--test", str(data), "--output", str(tmp_path / "m"))
    assert code == 2
    assert_unchanged(before)


def test_missing_label_column_is_named(models, inputs, capsys):
    data = inputs / "nolabel.csv"
    data.write_text("text,other\nfever,x\ncough,y\n")
    code, _, err = cli(capsys, "evaluate", "--model", str(models["head"]), "--data", str(data), "--label-column",
                       "label")
    assert code == 2 and "no label column 'label'" in err


def test_mixed_encodings_are_read_with_a_warning(models, inputs, tmp_path, capsys):
    data = inputs / "mixed.csv"
    data.write_bytes("text,label\ncafé fever,1\n".encode() + "naïve cough,0\n".encode("latin-1") +
                     "😷 sick,1\n".encode())
    before = snapshot(data)
    with pytest.warns(UserWarning, match="not valid UTF-8"):
        code, stdout, err = cli(capsys, "evaluate", "--model", str(models["head"]), "--data", str(data), "--json")
    assert code == 0 and '"n": 3' in stdout
    out = tmp_path / "pred.csv"
    code, _, err = cli(capsys, "predict", "--model", str(models["head"]), "--data", str(data), "--output", str(out))
    assert code == 0, err
    assert len(pd.read_csv(out)) == 3
    assert_unchanged(before)


def test_output_may_not_overwrite_the_input(models, inputs, capsys):
    data = inputs / "posts.csv"
    data.write_text("text\nfever\n")
    before = snapshot(data)
    code, _, err = cli(capsys, "predict", "--model", str(models["head"]), "--data", str(data), "--output", str(data))
    assert code == 2 and "refusing to overwrite the input" in err
    assert_unchanged(before)


# --- missing or corrupt models ----------------------------------------------------------------------------------

def _corrupt(models: dict[str, Path], tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "no-such-model"
    if kind == "empty_dir":
        (tmp_path / "empty-model").mkdir()
        return tmp_path / "empty-model"
    source = models["finetune" if kind == "truncated_safetensors" else "head"]
    directory = tmp_path / f"model-{kind}"
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("onnx"))
    target = {"truncated_head": "head.joblib", "truncated_safetensors": "model.safetensors",
              "corrupt_config": "classifier_config.json", "missing_head": "head.joblib"}[kind]
    if kind == "missing_head":
        (directory / target).unlink()
    else:
        content = (directory / target).read_bytes()
        (directory / target).write_bytes(content[: len(content) // 3])
    return directory


MODEL_CASES = [
    ("missing", "model directory not found"),
    ("empty_dir", "is not a trained classifier (classifier_config.json is missing)"),
    ("truncated_head", "cannot read the trained head"),
    ("missing_head", "head.joblib is missing"),
    ("truncated_safetensors", "cannot load the fine-tuned model"),
    ("corrupt_config", "corrupt classifier config"),
]


@pytest.mark.parametrize("kind,message", MODEL_CASES)
def test_cli_refuses_a_missing_or_corrupt_model(models, inputs, tmp_path, capsys, kind, message):
    model_dir = _corrupt(models, tmp_path, kind)
    data = inputs / "posts.csv"
    data.write_text("text\nfever\n")
    before = snapshot(data, *(model_dir.rglob("*") if model_dir.exists() else []))
    for engine in ("torch", "onnx"):
        code, _, err = cli(capsys, "predict", "--model", str(model_dir), "--data", str(data), "--output",
                           str(tmp_path / "o.csv"), "--engine", engine)
        assert code == 2 and message in err, (engine, err)
    assert_unchanged(before)


@pytest.mark.parametrize("kind,message", MODEL_CASES)
def test_api_refuses_a_missing_or_corrupt_model(models, tmp_path, kind, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TextClassifier.from_pretrained(_corrupt(models, tmp_path, kind))


def test_real_cli_process_has_no_traceback(models, tmp_path):
    """A failure through ``python -m classifiers`` itself: exit code 2, one line on stderr, no model loaded."""
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\xff" * 500)
    result = run_cli("predict", "--model", str(models["head"]), "--data", str(junk), "--output", str(tmp_path / "o.csv"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:") and "binary file" in result.stderr


@pytest.mark.parametrize("call", ["directory", "binary", "empty"])
def test_api_load_table_refuses_unusable_files(tmp_path, call):
    path = _write_bad(tmp_path, call)
    with pytest.raises(DataError, match=str(path.name)):
        load_table(path)


# --- faults: atomic writes ---------------------------------------------------------------------------------------

def test_crash_inside_save_pretrained_keeps_the_previous_model(models, tmp_path, monkeypatch, toy_posts):
    from classifiers.head import HeadBackend

    target = tmp_path / "model"
    shutil.copytree(models["head"], target)
    before = {p.relative_to(target): digest(p) for p in target.rglob("*") if p.is_file()}
    model = TextClassifier.from_pretrained(target)

    def dies_half_way(self, directory):
        (directory / "head.joblib").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(HeadBackend, "save", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(target)
    after = {p.relative_to(target): digest(p) for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "no temporary folder is left behind"
    texts, _ = toy_posts
    assert TextClassifier.from_pretrained(target).predict(texts[:3])


KILL_SCRIPT = textwrap.dedent("""
    import os, sys
    from classifiers import TextClassifier
    from classifiers.head import HeadBackend
    model = TextClassifier.from_pretrained(sys.argv[1])
    def killed(self, directory):
        (directory / "head.joblib").write_bytes(b"half")
        os._exit(9)  # like SIGKILL: no cleanup, no finally
    HeadBackend.save = killed
    model.save_pretrained(sys.argv[1])
""")


def test_process_killed_inside_save_pretrained_keeps_the_previous_model(models, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(models["head"], target)
    before = {p.relative_to(target): digest(p) for p in target.rglob("*") if p.is_file()}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(target)], cwd=REPO, env=env, timeout=300)
    assert result.returncode == 9
    assert {p.relative_to(target): digest(p) for p in target.rglob("*") if p.is_file()} == before
    TextClassifier.from_pretrained(target)


WRITERS = {"write_text", "write_bytes", "dump", "save", "savefig", "to_csv", "to_json", "to_parquet", "export",
           "quantize_dynamic", "save_pretrained", "copyfile", "copy2", "copytree"}
# Functions that write without atomic_path, each with the reason it is safe.
ALLOWED = {
    ("finetune.py", "save"): "writes into the staged folder of TextClassifier.save_pretrained's atomic_path",
    ("head.py", "save"): "writes into the staged folder of TextClassifier.save_pretrained's atomic_path",
    ("scoring.py", "_append"): "appends to OUTPUT.partial, renamed onto OUTPUT only when complete",
    ("scoring.py", "score_file"): "cuts OUTPUT.partial back to its last complete chunk before resuming",
    ("ray_engine.py", "unpack_directory"): "a private temporary folder on a Ray worker",
    ("cli.py", "cmd_train"): "calls model.save_pretrained, itself atomic",
}


def _unguarded_writes(path: Path) -> list[tuple[str, str, int]]:
    """Writer calls that are neither inside ``with atomic_path(...)`` nor in an allowed function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str, guarded: bool) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.With | ast.AsyncWith) and any(
                isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", "") == "atomic_path"
                for item in node.items):
            guarded = True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITERS:
            if not guarded and (path.name, function) not in ALLOWED:
                found.append((path.name, function, node.lineno))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "open":
            modes = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if any(set(m) & set("wax+") for m in modes) and not guarded and (path.name, function) not in ALLOWED:
                found.append((path.name, function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function, guarded)

    visit(tree, "<module>", False)
    return found


def test_every_classifiers_writer_goes_through_atomic_path():
    offenders = [hit for path in sorted((REPO / "classifiers").glob("*.py")) if path.name != "io.py"
                 for hit in _unguarded_writes(path)]
    assert offenders == [], f"writes outside atomic_path (file, function, line): {offenders}"


def test_the_writer_scan_catches_an_unguarded_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def save(frame, path):\n    frame.to_csv(path)\n\n"
                      "def good(frame, path):\n    with atomic_path(path) as tmp:\n        frame.to_csv(tmp)\n")
    assert _unguarded_writes(sample) == [("sample.py", "save", 2)]

