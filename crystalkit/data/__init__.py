"""Datasets and the shared batch type."""

from crystalkit.data.batch import CrystalBatch, collate

__all__ = ["CrystalBatch", "collate"]
