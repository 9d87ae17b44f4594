"""``python -m augment balance|text``: balance a training file, or show variants of one post."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from augment.balance import DEFAULT_PER_EXAMPLE, BalanceResult, balance_report
from augment.pipeline import DEFAULT_AUGMENTERS, FACTORIES, AugmentConfig, Augmenter, make_rng
from augment.targets import TARGET_HELP, parse_target
from augment.wordnet import WordNetMissingError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m augment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bal = commands.add_parser("balance", help="augment minority classes and resample every class to a target")
    bal.add_argument("--input", required=True, type=Path, help="training file (CSV, TSV or JSONL)")
    bal.add_argument("--output", required=True, type=Path, help="balanced file to write (format from its suffix)")
    bal.add_argument("--text-column", help="text column (name, or 0-based index for a file without header)")
    bal.add_argument("--label-column", help="label column (name or 0-based index)")
    bal.add_argument("--target", default="max", help=f"class sizes: {TARGET_HELP} (default: max)")
    bal.add_argument("--per-example", type=int, default=DEFAULT_PER_EXAMPLE,
                     help=f"at most this many variants per post (default {DEFAULT_PER_EXAMPLE})")
    bal.add_argument("--dev", type=Path, action="append", default=[], help="dev file: warn on overlap, never emit its posts")
    bal.add_argument("--test", type=Path, action="append", default=[], help="test file: same as --dev")
    bal.add_argument("--drop-invalid", action="store_true", help="skip rows with empty text or label instead of failing")
    _add_augment_options(bal)
    txt = commands.add_parser("text", help="print augmented variants of one post")
    txt.add_argument("post", help="the post text")
    txt.add_argument("-n", type=int, default=5, help="number of variants (default 5)")
    txt.add_argument("--show-augmenters", action="store_true", help="prefix each variant with the augmenters used")
    _add_augment_options(txt)
    return parser


def _add_augment_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--augmenters", default=",".join(DEFAULT_AUGMENTERS),
                        help=f"comma-separated, from {','.join(FACTORIES)} (default {','.join(DEFAULT_AUGMENTERS)})")
    parser.add_argument("--word-p", type=float, default=0.1, help="fraction of words changed per variant (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same output")
    parser.add_argument("--keep-words", default="", help="comma-separated words never changed (e.g. covid,vaccine)")
    parser.add_argument("--normalize-users", action="store_true", help="replace @handles by @USER")
    parser.add_argument("--normalize-urls", action="store_true", help="replace links by HTTPURL")


def _config(args: argparse.Namespace) -> AugmentConfig:
    return AugmentConfig(
        augmenters=args.augmenters, word_p=args.word_p, normalize_users=args.normalize_users,
        normalize_urls=args.normalize_urls,
        keep_words=frozenset(w.strip() for w in args.keep_words.split(",") if w.strip()),
    )


def run_text(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    engine = Augmenter(_config(args))
    variants = engine.variants(engine.prepare(args.post), args.n, rng=make_rng(args.seed, 0))
    for variant in variants:
        print(f"[{'+'.join(variant.augmenters)}] {variant.text}" if args.show_augmenters else variant.text)
    if len(variants) < args.n:
        print(f"note: made {len(variants)} of {args.n} variants; the post has few words these augmenters may change",
              file=sys.stderr)
    return 0


def run_balance(args: argparse.Namespace) -> int:
    parse_target(args.target)  # fail fast on bad options, before loading data or WordNet
    if args.per_example < 1:
        raise ValueError(f"--per-example must be at least 1, got {args.per_example}")
    config = _config(args)
    from classifiers.data import load_table, validate
    from classifiers.io import ensure_not_input

    ensure_not_input(args.output, args.input, *args.dev, *args.test)
    table = validate(load_table(args.input, text_column=args.text_column, label_column=args.label_column),
                     drop_invalid=args.drop_invalid)
    exclude = _evaluation_texts(table, [*args.dev, *args.test], args.text_column)
    frame = table.frame.copy()
    frame[table.text_column] = table.texts
    frame[table.label_column] = table.labels
    if "source_row" not in frame.columns:
        frame["source_row"] = list(table.frame.index)  # 0-based data rows of the file, before dropped rows
    result = balance_report(
        frame, text_column=table.text_column, label_column=str(table.label_column), target=args.target,
        per_example=args.per_example, augmenter=Augmenter(config), seed=args.seed, exclude_texts=exclude,
    )
    output = _named_columns(result.frame, table.text_column, str(table.label_column), args.input)
    write_frame(output, args.output)
    print(format_counts(result))
    print(f"wrote {args.output} ({len(output)} rows, {int(output['is_augmented'].sum())} augmented)")
    return 0


def _evaluation_texts(train: object, paths: Sequence[Path], text_column: str | None) -> list[str]:
    """Texts of the dev/test files; warn when the training file shares posts with them."""
    from classifiers.data import DataError, leak_report, load_table

    texts: list[str] = []
    for path in paths:
        try:
            evaluation = load_table(path, text_column=text_column, require_labels=False)
        except DataError:
            evaluation = load_table(path, require_labels=False)
        shared = leak_report(train, evaluation)  # type: ignore[arg-type]
        if shared:
            warnings.warn(
                f"{len(shared)} posts of the training file also appear in {path} (e.g. {shared[0][:60]!r}); "
                "evaluation on them would overstate quality. Remove them from training first", stacklevel=2)
        texts.extend(evaluation.texts)
    return texts


def _named_columns(frame: pd.DataFrame, text_column: str, label_column: str, source: Path) -> pd.DataFrame:
    """A header-less input gets a header in the output: ``text``, ``label``, ``column_N`` for the rest."""
    if not all(str(c).isdigit() for c in frame.columns if c not in ("source_row", "is_augmented", "augmenters", "seed")):
        return frame
    names = {c: ("text" if c == text_column else "label" if c == label_column else f"column_{c}")
             for c in frame.columns if str(c).isdigit()}
    logger.info("%s has no header; naming its columns %s", source, names)
    return frame.rename(columns=names)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV, TSV or JSONL (by suffix) atomically: a failed run leaves no half-written file."""
    from classifiers.io import atomic_path

    suffix = path.suffix.lower()
    with atomic_path(path) as staged:
        if suffix in {".jsonl", ".ndjson", ".json"}:
            frame.to_json(staged, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(staged, sep="\t" if suffix in {".tsv", ".tab", ".txt"} else ",", index=False)


def format_counts(result: BalanceResult) -> str:
    """A small table of class counts before and after balancing."""
    lines = [f"{'label':<16}{'before':>8}{'target':>8}{'after':>8}  change"]
    for label, target in result.targets.items():
        before, after = result.before.get(label, 0), result.after.get(label, 0)
        added = result.augmented.get(label, 0)
        removed = before - (after - added)
        notes = [f"+{added} augmented" if added else "", f"-{removed} under-sampled" if removed > 0 else "",
                 f"{result.shortfall[label]} short of target" if label in result.shortfall else ""]
        lines.append(f"{label[:15]:<16}{before:>8}{target:>8}{after:>8}  {', '.join(n for n in notes if n)}")
    total_before, total_after = sum(result.before.values()), sum(result.after.values())
    lines.append(f"{'total':<16}{total_before:>8}{'':>8}{total_after:>8}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    warnings.showwarning = _show_warning
    try:
        return run_balance(args) if args.command == "balance" else run_text(args)
    except (ValueError, WordNetMissingError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr)
