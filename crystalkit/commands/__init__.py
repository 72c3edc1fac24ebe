"""Subcommands of the ``crystalkit`` command line, one module each.

Each module in this package offers ``register(subparsers)``, which adds its
parser and sets ``run`` as the function to call. Modules import nothing
heavy at the top, so ``crystalkit --help`` stays fast. To add a command,
write ``crystalkit/commands/<name>.py`` and append ``<name>`` to
:data:`COMMANDS`.
"""

from __future__ import annotations

__all__ = ["COMMANDS"]

#: Module names under ``crystalkit.commands``, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("evaluate", "train", "sample", "export")
