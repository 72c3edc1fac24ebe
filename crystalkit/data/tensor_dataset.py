"""A training set held as pre-collated tensors, so a training step costs no Python per crystal.

Graph-based crystal models usually build every batch from Python objects:
look up each crystal, build its graph, concatenate. For small cells that
bookkeeping, not the network, decides the speed (the ROADMAP measured a
DiffCSP-class model at ~2 steps/s on a CPU and on a GPU alike). Here the whole
set is padded into a few tensors once (`DenseCrystals`), optionally moved to
the GPU, and a random batch is one indexing operation::

    data = TensorCrystalDataset.from_structures(structures, labels=energies)
    batch = data.random_batch(128, generator)     # DenseCrystals, ready for model.loss
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Structure

from crystalkit.data.batch import CrystalBatch
from crystalkit.data.dense import DenseCrystals
from crystalkit.errors import CrystalInputError

__all__ = ["TensorCrystalDataset"]


class TensorCrystalDataset:
    """Crystals as padded tensors; random batches are slices (see the module docstring).

    Args:
        crystals: the whole set, padded to its largest cell.
        name: a label for printing.
    """

    def __init__(self, crystals: DenseCrystals, name: str = "") -> None:
        if not isinstance(crystals, DenseCrystals):
            raise CrystalInputError(f"Expected DenseCrystals, got {type(crystals).__name__}; "
                                    "use TensorCrystalDataset.from_structures(...) to build one.")
        if len(crystals) == 0:
            raise CrystalInputError("A dataset needs at least one crystal.")
        self.crystals = crystals
        self.name = name

    # ----------------------------------------------------------- building
    @classmethod
    def from_structures(
        cls,
        structures: Sequence[Structure],
        labels: Sequence[float] | np.ndarray | None = None,
        *,
        niggli: bool = True,
        device: torch.device | str | None = None,
        name: str = "",
    ) -> TensorCrystalDataset:
        """Pad a list of structures (and optional property labels) into tensors.

        Args:
            structures: ordered pymatgen structures.
            labels: one float per structure (NaN for unknown), for conditional models.
            niggli: Niggli-reduce every cell first (as DiffCSP does): one canonical,
                nearly-orthogonal cell per crystal makes lattices easier to learn
                and the fractional minimum image exact for almost every pair.
            device: where to keep the tensors (a GPU makes every batch free to slice).
            name: a label for printing.
        """
        if isinstance(structures, Structure):
            structures = [structures]
        structures = list(structures)
        if not structures:
            raise CrystalInputError("Cannot build a dataset from an empty list of structures.")
        if niggli:
            structures = [structure.get_reduced_structure() for structure in structures]
        condition = None
        if labels is not None:
            condition = torch.as_tensor(np.asarray(labels, dtype=np.float64), dtype=torch.float32).reshape(-1)
            if condition.shape[0] != len(structures):
                raise CrystalInputError(f"{len(structures)} structures but {condition.shape[0]} labels: give one each.")
        batch = CrystalBatch.from_structures(structures, dtype=torch.float64, check=False)
        dense = DenseCrystals.from_batch(batch, condition=condition, dtype=torch.float32)
        dense = dense.replace(frac=dense.frac - torch.floor(dense.frac))  # coordinates in [0, 1)
        return cls(dense if device is None else dense.to(device), name=name)

    @classmethod
    def from_csv(
        cls, path: str | Path, *, label: str | None = None, niggli: bool = True, device: torch.device | str | None = None
    ) -> TensorCrystalDataset:
        """Read an upstream-format CSV (``material_id``, ``cif``, property columns).

        Args:
            path: the CSV file.
            label: a property column to keep as the conditioning label (e.g. ``"heat_ref"``).
        """
        from crystalkit.data.csv_format import read_structure_csv

        structures, table = read_structure_csv(path, check=False)
        labels = None
        if label is not None:
            if label not in table.columns:
                raise CrystalInputError(f"{path} has no column {label!r}; its columns are {list(table.columns)}.")
            labels = table[label].to_numpy(dtype=np.float64)
        return cls.from_structures(structures, labels, niggli=niggli, device=device, name=Path(path).stem)

    # ------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.crystals)

    def __repr__(self) -> str:
        sizes = self.crystals.num_atoms
        return (f"TensorCrystalDataset({self.name!r}, {len(self)} crystals, {int(sizes.min())}-{int(sizes.max())} "
                f"atoms, labels={self.crystals.condition is not None}, device={self.device})")

    @property
    def device(self) -> torch.device:
        return self.crystals.device

    def to(self, device: torch.device | str) -> TensorCrystalDataset:
        """A copy with every tensor on ``device``."""
        return TensorCrystalDataset(self.crystals.to(device), self.name)

    def batch(self, rows: torch.Tensor | slice) -> DenseCrystals:
        """The crystals at ``rows``, with unused padding trimmed."""
        return self.crystals.index(rows).trimmed()

    def random_batch(self, batch_size: int, generator: torch.Generator | None = None) -> DenseCrystals:
        """``batch_size`` crystals drawn uniformly with replacement: one ``randint`` and one slice."""
        rows = torch.randint(len(self), (batch_size,), generator=generator, device="cpu").to(self.device)
        return self.batch(rows)

    def batches(self, batch_size: int) -> Iterator[DenseCrystals]:
        """All crystals in order, ``batch_size`` at a time (for validation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(slice(start, start + batch_size))

    def split(self, fraction: float, seed: int = 0) -> tuple[TensorCrystalDataset, TensorCrystalDataset]:
        """A seeded random split into ``(first, rest)`` with ``fraction`` of the crystals in ``first``."""
        if not 0 < fraction < 1:
            raise CrystalInputError(f"fraction must lie strictly between 0 and 1, got {fraction}.")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)).to(self.device)
        cut = round(fraction * len(self))
        if cut in (0, len(self)):
            raise CrystalInputError(f"A split of {len(self)} crystals at {fraction} leaves one side empty.")
        return (TensorCrystalDataset(self.crystals.index(order[:cut]), self.name),
                TensorCrystalDataset(self.crystals.index(order[cut:]), self.name))
