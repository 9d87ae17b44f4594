"""Fast CPU inference with ONNX Runtime for a trained classifier, optionally with int8 weights.

The export is done once and cached inside the model directory (``onnx/model.onnx``, ``onnx/model.int8.onnx``),
each file written atomically. For ``finetune`` models the graph is the whole sequence classifier with the
softmax inside; for ``head`` models it is the encoder with mean pooling and L2 normalisation inside, and the
sklearn part (TF-IDF + logistic regression from ``head.joblib``) runs as it does with torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from classifiers.card import ModelCard, decide_labels, read_card  # noqa: F401 - re-exported
from classifiers.config import TrainingConfig
from classifiers.encoder import length_sorted_batches, load_tokenizer, resolve_model
from classifiers.io import atomic_path
from classifiers.model import LONG_POST_CHARS

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
META_FILE = "export.json"
OPSET = 17
EXPORT_VERSION = 1
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
Quantize = Literal["int8"] | None
TRUNCATION_NOTE = ("some posts are longer than the model's max_length tokens and were truncated: "
                   "the model reads only their beginning")


def _source_dir(card: ModelCard) -> Path:
    """Where the weights that get exported live: the model dir (finetune) or the frozen encoder (head)."""
    return card.directory if card.config.method == "finetune" else Path(resolve_model(card.config.model))


def _fingerprint(card: ModelCard) -> str:
    """Changes when the exported weights change, so a stale cached graph is never used."""
    import torch

    source = _source_dir(card)
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{OPSET}|{torch.__version__}|{card.config.method}".encode())
    if not source.is_dir():
        raise ValueError(f"cannot export {card.directory} to ONNX: encoder {card.config.model!r} is not a local "
                         "directory (download it, then train with --model PATH)")
    for item in sorted(source.iterdir()):
        if item.suffix in {".safetensors", ".bin"} or item.name == "config.json":
            stat = item.stat()
            digest.update(f"{item.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class _ProbabilityGraph:
    """Factory for the exported module: sequence classifier logits -> softmax probabilities."""

    @staticmethod
    def build(card: ModelCard):
        import torch
        from transformers import AutoModelForSequenceClassification

        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                card.directory, local_files_only=True, attn_implementation="eager")
        except Exception as err:  # OSError, ValueError, SafetensorError for a truncated file: name the folder
            raise ValueError(f"{card.directory}: cannot load the fine-tuned model ({type(err).__name__}: {err})") from None

        class Probabilities(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).logits
                return torch.softmax(logits.float(), dim=-1)

        return Probabilities().eval()


class _EmbeddingGraph:
    """Factory for the exported module: encoder -> mean pooling over real tokens -> L2 normalisation."""

    @staticmethod
    def build(card: ModelCard):
        import torch
        from transformers import AutoModel

        from classifiers.encoder import mean_pool

        encoder = AutoModel.from_pretrained(_source_dir(card), local_files_only=True, attn_implementation="eager")

        class Embeddings(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder

            def forward(self, input_ids, attention_mask, token_type_ids=None):
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
                return torch.nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

        return Embeddings().eval()


def _tokenizer_source(card: ModelCard) -> str:
    return str(card.directory) if card.config.method == "finetune" else card.config.model


def _export_fp32(card: ModelCard, target: Path) -> None:
    import torch

    module = (_ProbabilityGraph if card.config.method == "finetune" else _EmbeddingGraph).build(card)
    tokenizer = load_tokenizer(_tokenizer_source(card))
    # Two posts of different lengths, so the traced graph has real padding and a real attention mask.
    example = tokenizer(["a short post", "a somewhat longer post, so that the first one needs padding"],
                        padding=True, truncation=True, max_length=card.config.max_length, return_tensors="pt")
    names = [name for name in INPUT_NAMES if name in example]
    output = "probabilities" if card.config.method == "finetune" else "embeddings"
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {output: {0: "batch"}}
    with atomic_path(target) as tmp, warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(example[name] for name in names), str(tmp), input_names=names,
                          output_names=[output], dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def _quantize(source: Path, target: Path) -> None:
    """Dynamic int8 weights, one scale per output channel (per-tensor scales flip ~2x more labels)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs a generic "consider pre-processing" hint on the root logger
    try:
        with atomic_path(target) as tmp:
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def export_onnx(directory: str | Path, *, quantize: Quantize = None, force: bool = False) -> Path:
    """Export the model in ``directory`` to ONNX (once; cached in ``directory/onnx``) and return the file to run."""
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    card = read_card(directory)
    folder = card.directory / ONNX_DIR
    meta_path, fp32 = folder / META_FILE, folder / FP32_FILE
    fingerprint = _fingerprint(card)
    meta = _read_meta(meta_path)
    if force or meta.get("fingerprint") != fingerprint or not fp32.exists():
        if not os.access(card.directory, os.W_OK):
            raise ValueError(f"{card.directory} is read-only: cannot cache the ONNX export there; copy the model "
                             "directory somewhere writable")
        folder.mkdir(exist_ok=True)
        (folder / INT8_FILE).unlink(missing_ok=True)
        logger.info("exporting %s to ONNX (opset %d)", card.directory, OPSET)
        _export_fp32(card, fp32)
        meta = {"fingerprint": fingerprint, "opset": OPSET, "method": card.config.method, "files": [FP32_FILE]}
        _write_meta(meta_path, meta)
    if quantize is None:
        return fp32
    int8 = folder / INT8_FILE
    if not int8.exists():
        logger.info("quantising %s to int8", fp32)
        _quantize(fp32, int8)
        _write_meta(meta_path, {**meta, "files": sorted({*meta.get("files", []), INT8_FILE})})
    return int8


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")


def cpu_threads() -> int:
    """Intra-op threads: the user's cap (OMP_NUM_THREADS / TORCH_NUM_THREADS, set by Ray per actor) or all cores."""
    wanted = os.environ.get("TORCH_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return int(wanted) if wanted and wanted.isdigit() and int(wanted) > 0 else (os.cpu_count() or 1)


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # a truncated or foreign file: name it instead of an ORT traceback
        raise ValueError(f"{path}: cannot load the ONNX model ({type(err).__name__}: {err}); "
                         "delete the onnx/ folder to export it again") from None


class OnnxClassifier:
    """A ``TextClassifier``-compatible predictor (``labels``, ``predict_proba``, ``predict``, ``decide``) on ORT."""

    def __init__(self, card: ModelCard, session, tokenizer, *, head=None, batch_size: int = 64,
                 quantize: Quantize = None) -> None:
        self.card, self.session, self.tokenizer, self.head = card, session, tokenizer, head
        self.batch_size, self.quantize = batch_size, quantize
        self._inputs = [i.name for i in session.get_inputs()]

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, quantize: Quantize = None, threads: int | None = None,
                        batch_size: int = 64) -> OnnxClassifier:
        """Load (exporting first if needed) the ONNX graph of a model saved by ``TextClassifier.save_pretrained``."""
        card = read_card(directory)
        head = None
        if card.config.method == "head":
            from classifiers.head import HeadBackend

            head = HeadBackend.load(card.directory, card.config)
        path = export_onnx(card.directory, quantize=quantize)
        return cls(card, _session(path, threads), load_tokenizer(_tokenizer_source(card)), head=head,
                   batch_size=batch_size, quantize=quantize)

    @property
    def labels(self) -> list[str]:
        return self.card.labels

    @property
    def config(self) -> TrainingConfig:
        return self.card.config

    @property
    def positive_label(self) -> str | None:
        return self.card.positive_label

    @property
    def threshold(self) -> float | None:
        return self.card.threshold

    def _run(self, texts: list[str], progress: bool) -> np.ndarray:
        """Length-sorted batches through the session; returns probabilities (finetune) or embeddings (head)."""
        batches = length_sorted_batches([len(t) for t in texts], self.batch_size)
        out: np.ndarray | None = None
        truncated = 0
        for batch in tqdm(batches, desc="predicting", unit="batch", disable=not progress):
            enc = self.tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                 max_length=self.config.max_length, return_tensors="np")
            truncated += int((enc["attention_mask"].sum(1) >= self.config.max_length).sum())
            result = self.session.run(None, {name: enc[name].astype(np.int64) for name in self._inputs})[0]
            if out is None:
                out = np.zeros((len(texts), result.shape[1]), dtype=np.float32)
            out[batch] = result
        if truncated:
            warnings.warn(TRUNCATION_NOTE, stacklevel=3)
        return out

    def predict_proba(self, texts: str | Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Probabilities, one column per label in ``self.labels`` order."""
        items = [texts] if isinstance(texts, str) else list(texts)
        bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"texts must be strings; items {bad[:10]} are not")
        if not items:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        items = [t[:LONG_POST_CHARS] for t in items]
        result = self._run(items, progress)
        if self.head is None:
            return result
        return np.asarray(self.head.clf.predict_proba(self.head._features(items, result)), dtype=np.float32)

    def decide(self, proba: np.ndarray) -> list[str]:
        return decide_labels(proba, self.card.labels, self.card.positive_label, self.card.threshold)

    def predict(self, texts: str | Sequence[str], *, progress: bool = False) -> list[str]:
        return self.decide(self.predict_proba(texts, progress=progress))

    def __repr__(self) -> str:
        return (f"OnnxClassifier(method={self.config.method!r}, quantize={self.quantize!r}, "
                f"labels={self.labels})")
