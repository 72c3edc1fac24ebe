"""Errors the kit raises on bad input.

Every check in the kit raises one of these, and every message says two things:
what was wrong, and what to do about it. They subclass ``ValueError`` (or
``FileNotFoundError``) so that code written against plain Python errors still
catches them.
"""

from __future__ import annotations

__all__ = ["CrystalInputError", "DatasetNotAvailableError", "ChecksumMismatchError"]


class CrystalInputError(ValueError):
    """A structure, CIF text or array that cannot describe a valid crystal."""


class DatasetNotAvailableError(FileNotFoundError):
    """A dataset file is neither cached, nor in ``data_dir``, nor downloadable."""


class ChecksumMismatchError(ValueError):
    """A downloaded or local file does not have the sha256 it should have."""
