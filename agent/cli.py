"""``python -m agent index|explain|calibrate``: build the example index, explain a post, calibrate the policy.

Each subcommand is a ``Command`` in ``COMMANDS``; another subcommand (e.g. ``chat``) is added by appending one.
Heavy imports happen inside the handlers, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from classifiers.cli_options import add_data_options, column_arg

EXIT_USAGE = 2


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _add_llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gguf", help="GGUF model file (default: ALEX_GGUF, else the embedded SmolLM2-135M)")
    parser.add_argument("--n-threads", type=int, help="LLM threads (default: ALEX_N_THREADS, else all CPUs)")
    parser.add_argument("--n-ctx", type=int, help="LLM context size (default: ALEX_N_CTX, else 2048)")
    parser.add_argument("-k", "--neighbours", type=int, help="examples retrieved per post (default: ALEX_NEIGHBOURS, 5)")


def _load_table(path: str, args: argparse.Namespace, labels: Sequence[str] | None = None) -> Any:
    from classifiers.data import load_table, validate

    table = load_table(path, text_column=column_arg(args.text_column), label_column=column_arg(args.label_column),
                       header=args.header)
    return validate(table, labels=labels, drop_invalid=args.drop_invalid)


def _settings(args: argparse.Namespace) -> Any:
    from agent.settings import load_settings

    return load_settings(gguf=getattr(args, "gguf", None), n_threads=getattr(args, "n_threads", None),
                         n_ctx=getattr(args, "n_ctx", None), neighbours=getattr(args, "neighbours", None),
                         policy=getattr(args, "policy", None), threshold=getattr(args, "threshold", None))


# -- index ------------------------------------------------------------------------------------------------------
def configure_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="labelled training posts (CSV, TSV or JSONL)")
    parser.add_argument("--output", required=True, help="index directory to write (replaced atomically)")
    add_data_options(parser)
    parser.add_argument("--id-column", help="column with row ids (default: the file's row number)")
    parser.add_argument("--encoder", default="embedded",
                        help="'embedded' (MiniLM, default), 'classifier' (the --model's own encoder), or a model dir")
    parser.add_argument("--model", help="classifier directory (for --encoder classifier and a label check)")
    parser.add_argument("--task", help="task.json with the task and label definitions, stored with the index")
    parser.add_argument("--add", action="store_true", help="add the rows to the existing index at --output")
    parser.add_argument("--flat-limit", type=int, help="exact search below this many examples, IVF (or HNSW: ALEX_LARGE_INDEX) above "
                             "(default 50000)")


def run_index(args: argparse.Namespace) -> int:
    from agent.loading import classifier_encoder_name, load_classifier
    from agent.prompts import TaskSpec
    from agent.retrieval import ExampleIndex, IndexConfig
    from classifiers.io import ensure_not_input

    ensure_not_input(args.output, args.data, args.task)
    settings = _settings(args)
    labels = load_classifier(args.model).labels if args.model else None
    table = _load_table(args.data, args, labels)
    ids = _row_ids(table, args.id_column)
    task = TaskSpec.load(args.task).for_labels(sorted(set(table.labels))) if args.task else None
    start = time.perf_counter()
    if args.add:
        index = ExampleIndex.load(args.output)
        index.add(table.texts, table.labels, ids)
    else:
        if args.encoder == "classifier" and not args.model:
            raise ValueError("--encoder classifier needs --model CLASSIFIER_DIR")
        encoder = classifier_encoder_name(args.model) if args.encoder == "classifier" else args.encoder
        config = IndexConfig(flat_limit=args.flat_limit or settings.flat_limit, large_index=settings.large_index,
                             nprobe=settings.nprobe, ef_search=settings.ef_search)
        index = ExampleIndex.build(table.texts, table.labels, ids, encoder, config=config, progress=True)
    index.save(args.output, extra_files={"task.json": task.to_dict()} if task else None)
    print(f"indexed {len(index)} examples ({index.kind}, dim {index.dim}, encoder {index.encoder_name}) "
          f"into {args.output} in {time.perf_counter() - start:.1f} s")
    return 0


def _row_ids(table: Any, id_column: str | None) -> list[str]:
    if id_column is None:
        return [str(int(i) + 1) for i in table.frame.index]
    column = str(id_column)
    if column not in table.frame.columns:
        raise ValueError(f"{table.path}: no id column {column!r}; the columns are {list(table.frame.columns)}")
    return [str(v) for v in table.frame[column]]


# -- explain ----------------------------------------------------------------------------------------------------
def configure_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="the post to explain ('-' reads it from standard input)")
    parser.add_argument("--model", required=True, help="trained classifier directory")
    parser.add_argument("--index", help="example index directory (default: ALEX_INDEX; none: no neighbours)")
    parser.add_argument("--policy", choices=["explain_only", "alex", "gated", "neighbours"],
                        help="decision policy (default: ALEX_POLICY, else the calibrated one, else explain_only)")
    parser.add_argument("--threshold", type=float, help="confidence threshold of the gated policies")
    parser.add_argument("--task", help="task.json overriding the one stored with the index")
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM (evidence and BERT's label only)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    _add_llm_options(parser)


def run_explain(args: argparse.Namespace) -> int:
    from agent.loading import build_explainer

    text = sys.stdin.read() if args.text == "-" else args.text
    explainer = build_explainer(args.model, args.index, settings=_settings(args), use_llm=not args.no_llm,
                                task_path=args.task)
    if explainer.index is None:
        logging.getLogger("agent").warning("no --index (or ALEX_INDEX): the explanation has no retrieved examples")
    result = explainer.explain(text)
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else result.to_text())
    return 0


# -- calibrate --------------------------------------------------------------------------------------------------
def configure_calibrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="trained classifier directory")
    parser.add_argument("--index", required=True, help="example index directory; policy.json is stored there")
    parser.add_argument("--data", required=True, help="labelled dev posts (not the index's training posts)")
    add_data_options(parser)
    parser.add_argument("--limit", type=int, help="evaluate a stratified sample of this many dev posts")
    parser.add_argument("--seed", type=int, default=13, help="seed of the --limit sample")
    parser.add_argument("--min-gain", type=float, default=0.005,
                        help="a policy must beat BERT alone by this much on the dev metric to be chosen")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="and beat it in this share of bootstrap resamples of the dev posts")
    parser.add_argument("--cache-dir", help="reuse cached LLM answers (default: ALEX_CACHE_DIR)")
    _add_llm_options(parser)


def run_calibrate(args: argparse.Namespace) -> int:
    from agent.llm import CachedLLM, LLMConfig, get_llm
    from agent.loading import build_explainer, load_classifier
    from agent.policy import DEFAULT_POLICY, calibrate, save_policy, stratified_positions

    settings = _settings(args)
    classifier = load_classifier(args.model)
    table = _load_table(args.data, args, classifier.labels)
    texts, gold = table.texts, table.labels
    if args.limit:
        keep = stratified_positions(gold, args.limit, seed=args.seed)
        texts, gold = [texts[i] for i in keep], [gold[i] for i in keep]
    llm: Any = get_llm(LLMConfig.from_settings(settings))
    cache_dir = args.cache_dir or settings.cache_dir
    if cache_dir and settings.temperature == 0:
        llm = CachedLLM(llm, cache_dir)
    explainer = build_explainer(args.model, args.index, settings=settings, llm=llm, classifier=classifier,
                                policy=DEFAULT_POLICY)
    indexed = {example["text"] for example in explainer.index.examples} if explainer.index else set()
    overlap = sum(text in indexed for text in texts)
    if overlap:
        logging.getLogger("agent").warning(
            "%d dev posts are also in the index: each retrieves itself, so the neighbours look better than "
            "they are; calibrate on posts the index does not hold", overlap)
    start = time.perf_counter()
    assessed = explainer.explain_many(texts, progress=True)
    result = calibrate(assessed, gold, classifier.labels, min_gain=args.min_gain, confidence=args.confidence,
                       seed=args.seed)
    path = save_policy(args.index, result, dev=str(args.data), llm=llm.name,
                       valid_llm_answers=sum(a.llm_label is not None for a in assessed))
    for name, score in sorted(result.scores.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{score:.4f}  {name}")
    won = f", better in {result.win_rate:.0%} of bootstrap resamples" if result.win_rate is not None else ""
    print(f"BERT alone: {result.baseline:.4f} {result.metric}; chosen: {result.policy.name} ({result.score:.4f}"
          f"{won}) on {result.n} dev posts in {time.perf_counter() - start:.0f} s; saved {path}")
    return 0


COMMANDS: list[Command] = [
    Command("index", "embed labelled posts into a FAISS example index", configure_index, run_index),
    Command("explain", "label a post and explain it with evidence and the local LLM", configure_explain, run_explain),
    Command("calibrate", "choose the decision policy on a dev file; stored with the index",
            configure_calibrate, run_calibrate),
]


def _register_chat() -> None:
    """``chat`` lives with the agent graph; it is registered here so ``python -m agent chat`` works."""
    from agent.chat import chat_command

    COMMANDS.append(chat_command())


_register_chat()


def build_parser(commands: Sequence[Command] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent", description="Explain health-post labels: build the example index, explain a post, calibrate the decision policy.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands or COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.set_defaults(handler=command.run)
    return parser


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    warnings.showwarning = _show_warning
    from agent.llm import LLMError

    try:
        return int(args.handler(args))
    except (ValueError, FileNotFoundError, ImportError, LLMError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
