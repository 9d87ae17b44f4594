"""Assemble an ``Explainer`` from folders and settings: the one place the CLI, the agent tools and the UI load from.

Precedence: explicit arguments, then ``ALEX_*`` settings, then what is stored beside the index
(``task.json``, ``policy.json``), then the classifier folder (``task.json``), then defaults.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from agent.explainer import Explainer, ExplainerConfig
from agent.llm import ChatLLM, LLMConfig, get_llm
from agent.policy import DEFAULT_POLICY, Policy, load_policy
from agent.prompts import TaskSpec
from agent.retrieval import ExampleIndex
from agent.settings import AlexSettings, load_settings

logger = logging.getLogger(__name__)

TASK_FILE = "task.json"
CLASSIFIER_CONFIG = "classifier_config.json"


def load_classifier(model_dir: str | Path) -> Any:
    """The trained classifier saved by ``python -m classifiers train`` (``TextClassifier.from_pretrained``)."""
    try:
        from classifiers import TextClassifier
    except ImportError as err:
        raise ImportError(f"the classifier package cannot be imported ({err})") from None
    return TextClassifier.from_pretrained(model_dir)


def classifier_encoder_name(model_dir: str | Path) -> str:
    """The encoder a classifier folder embeds with: its fine-tuned weights, or the frozen encoder of a head model."""
    folder = Path(model_dir)
    path = folder / CLASSIFIER_CONFIG
    if not path.is_file():
        raise ValueError(f"{folder} is not a trained classifier ({CLASSIFIER_CONFIG} is missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        method, model = data["method"], data["config"]["model"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: cannot read the classifier's method and encoder ({err})") from None
    return str(folder.resolve()) if method == "finetune" else str(model)


def resolve_task(labels: Any, *, task_path: str | Path | None = None, index_dir: str | Path | None = None,
                 model_dir: str | Path | None = None) -> TaskSpec:
    """The task description and label definitions for the prompt."""
    if task_path is not None:
        return TaskSpec.load(task_path).for_labels(labels)
    for folder in (index_dir, model_dir):
        if folder is not None and (Path(folder) / TASK_FILE).is_file():
            return TaskSpec.load(Path(folder) / TASK_FILE).for_labels(labels)
    logger.info("no %s found: the prompt lists the label names without definitions", TASK_FILE)
    return TaskSpec.default(labels)


def resolve_policy(settings: AlexSettings, index_dir: str | Path | None, explicit: Policy | None = None) -> Policy:
    if explicit is not None:
        return explicit
    stored = load_policy(index_dir)
    if settings.policy is not None:
        threshold = settings.threshold if settings.threshold is not None else (stored.threshold if stored else 0.6)
        same_mode = stored is not None and stored.mode == settings.policy
        return Policy(mode=settings.policy, threshold=threshold, check_labels=stored.check_labels if same_mode else None)
    if stored is not None:
        return stored
    return DEFAULT_POLICY


def build_explainer(model_dir: str | Path, index_dir: str | Path | None = None, *,
                    settings: AlexSettings | None = None, use_llm: bool = True, llm: ChatLLM | None = None,
                    policy: Policy | None = None, task_path: str | Path | None = None,
                    classifier: Any | None = None, index: ExampleIndex | None = None,
                    config: ExplainerConfig | None = None) -> Explainer:
    """Load (or take) each part and wire them; the GGUF is checked now but loaded on the first explanation."""
    settings = settings or load_settings()
    index_dir = index_dir if index_dir is not None else settings.index
    classifier = classifier if classifier is not None else load_classifier(model_dir)
    if index is None and index_dir is not None:
        index = ExampleIndex.load(index_dir, ef_search=settings.ef_search, nprobe=settings.nprobe)
    if llm is None and use_llm:
        llm = get_llm(LLMConfig.from_settings(settings))
    task = resolve_task(classifier.labels, task_path=task_path, index_dir=index_dir, model_dir=model_dir)
    config = config or ExplainerConfig(k=settings.neighbours)
    return Explainer(classifier, index, llm if use_llm else None, resolve_policy(settings, index_dir, policy),
                     task=task, config=config)
