"""Command-line options shared by ``python -m classifiers`` and ``python -m agent``: how to find the text and
label columns of a data file. Kept free of heavy imports so ``--help`` stays instant."""

from __future__ import annotations

import argparse


def column_arg(value: str | None) -> str | int | None:
    """A column given on the command line: a 0-based index when it is all digits, else a name."""
    return int(value) if value is not None and value.isdigit() else value


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-column", help="name, or 0-based index for a file without header (default: auto)")
    parser.add_argument("--label-column", help="name or 0-based index (default: auto: label, class, stance, ...)")
    header = parser.add_mutually_exclusive_group()
    header.add_argument("--no-header", dest="header", action="store_false", default=None,
                        help="the file has no header line (SMM4H train.tsv); refer to columns by index")
    header.add_argument("--header", dest="header", action="store_true", help="the first line is a header")
    parser.add_argument("--drop-invalid", action="store_true",
                        help="drop rows with empty text or missing/unknown labels instead of stopping")
