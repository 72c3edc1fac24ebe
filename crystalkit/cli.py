"""The ``crystalkit`` command line: ``crystalkit COMMAND [options]``.

Commands live in :mod:`crystalkit.commands` (one small module each); this
file only builds the parser and turns a bad input into a one-line error and
exit status 2 instead of a traceback. Run ``crystalkit --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from crystalkit import __version__
from crystalkit.commands import COMMANDS
from crystalkit.errors import ChecksumMismatchError, CrystalInputError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command in ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="crystalkit",
        description="crystalkit: a teaching kit on generative models for crystals.",
    )
    parser.add_argument("--version", action="version", version=f"crystalkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"crystalkit.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crystalkit`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (CrystalInputError, ChecksumMismatchError, FileNotFoundError) as error:
        # Bad input gets a one-line message, not a traceback; bugs still raise.
        print(f"crystalkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # python -m crystalkit.cli
    sys.exit(main())
