"""`CrystalBatch`: the one batch type every model, metric and widget shares.

A batch of ``B`` crystals with ``N`` atoms in total is stored "flat", the way
graph libraries store molecules: all atoms of all crystals one after another,
and a count of atoms per crystal to tell them apart::

    atomic_numbers  (N,)      int64   element of every atom
    frac_coords     (N, 3)    float   fractional coordinates in [0, 1)
    lattice         (B, 3, 3) float   rows are the cell vectors a, b, c in Å
    num_atoms       (B,)      int64   atoms in each crystal

Lengths/angles and the per-atom crystal index are derived from these, so they
can never disagree with them. The batch is frozen: models return new batches
instead of editing one in place, which makes sampling trajectories safe to keep.

Round trips to pymatgen are exact in float64 (the default dtype here): a
structure goes in and the very same lattice, coordinates and species come out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.geometry import lattice_to_parameters
from crystalkit.structures import check_structure

__all__ = ["CrystalBatch", "collate"]


@dataclass(frozen=True)
class CrystalBatch:
    """A batch of periodic crystals stored as flat tensors (see module docstring)."""

    atomic_numbers: torch.Tensor  # (N,)
    frac_coords: torch.Tensor  # (N, 3)
    lattice: torch.Tensor  # (B, 3, 3)
    num_atoms: torch.Tensor  # (B,)

    def __post_init__(self) -> None:
        n_atoms = self.atomic_numbers.shape[0] if self.atomic_numbers.dim() == 1 else -1
        problems = []
        if self.atomic_numbers.dim() != 1:
            problems.append(f"atomic_numbers must be (N,), got {tuple(self.atomic_numbers.shape)}")
        if self.frac_coords.dim() != 2 or self.frac_coords.shape != (n_atoms, 3):
            problems.append(f"frac_coords must be (N, 3) = ({n_atoms}, 3), got {tuple(self.frac_coords.shape)}")
        if self.lattice.dim() != 3 or self.lattice.shape[1:] != (3, 3):
            problems.append(f"lattice must be (B, 3, 3), got {tuple(self.lattice.shape)}")
        if self.num_atoms.dim() != 1 or self.num_atoms.shape[0] != self.lattice.shape[0]:
            problems.append(
                f"num_atoms must be (B,) with B = {self.lattice.shape[0]} lattices, got {tuple(self.num_atoms.shape)}"
            )
        elif int(self.num_atoms.sum()) != n_atoms:
            problems.append(f"num_atoms sums to {int(self.num_atoms.sum())} but there are {n_atoms} atoms")
        if self.atomic_numbers.is_floating_point() or self.num_atoms.is_floating_point():
            problems.append("atomic_numbers and num_atoms must be integer tensors")
        if problems:
            raise CrystalInputError("Inconsistent CrystalBatch: " + "; ".join(problems) + ".")

    # ----------------------------------------------------------------- derived
    @property
    def num_crystals(self) -> int:
        """Number of crystals B."""
        return int(self.num_atoms.shape[0])

    def __len__(self) -> int:
        return self.num_crystals

    @property
    def batch_index(self) -> torch.Tensor:
        """``(N,)`` index of the crystal each atom belongs to: ``[0, 0, 0, 1, 1, ...]``."""
        return torch.repeat_interleave(torch.arange(self.num_crystals, device=self.num_atoms.device), self.num_atoms)

    @property
    def lengths(self) -> torch.Tensor:
        """``(B, 3)`` cell lengths a, b, c in Å."""
        return lattice_to_parameters(self.lattice)[0]

    @property
    def angles(self) -> torch.Tensor:
        """``(B, 3)`` cell angles alpha, beta, gamma in degrees."""
        return lattice_to_parameters(self.lattice)[1]

    @property
    def device(self) -> torch.device:
        return self.frac_coords.device

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CrystalBatch:
        """A copy on ``device``; ``dtype`` changes the float tensors only (coordinates, lattice)."""
        return CrystalBatch(
            atomic_numbers=self.atomic_numbers.to(device),
            frac_coords=self.frac_coords.to(device=device, dtype=dtype),
            lattice=self.lattice.to(device=device, dtype=dtype),
            num_atoms=self.num_atoms.to(device),
        )

    def replace(self, **changes: torch.Tensor) -> CrystalBatch:
        """A new batch with some fields swapped, e.g. ``batch.replace(frac_coords=noisy)``."""
        fields = {name: getattr(self, name) for name in ("atomic_numbers", "frac_coords", "lattice", "num_atoms")}
        fields.update(changes)
        return CrystalBatch(**fields)

    def __getitem__(self, index: int) -> CrystalBatch:
        """The ``index``-th crystal as a batch of one."""
        if not -self.num_crystals <= index < self.num_crystals:
            raise IndexError(f"crystal {index} out of range for a batch of {self.num_crystals}")
        index = index % self.num_crystals
        offsets = torch.cumsum(self.num_atoms, 0) - self.num_atoms
        start, count = int(offsets[index]), int(self.num_atoms[index])
        return CrystalBatch(
            atomic_numbers=self.atomic_numbers[start : start + count],
            frac_coords=self.frac_coords[start : start + count],
            lattice=self.lattice[index : index + 1],
            num_atoms=self.num_atoms[index : index + 1],
        )

    # ----------------------------------------------------------- pymatgen I/O
    @classmethod
    def from_structures(
        cls, structures: Sequence[Structure], *, dtype: torch.dtype = torch.float64, check: bool = True
    ) -> CrystalBatch:
        """Batch a list of ordered pymatgen structures.

        Args:
            structures: ordered structures (no partial occupancies).
            dtype: float dtype for coordinates and lattices; float64 keeps
                round trips exact, models usually cast to float32.
            check: validate every structure with :func:`crystalkit.structures.check_structure`.
        """
        if isinstance(structures, Structure):
            structures = [structures]
        if len(structures) == 0:
            raise CrystalInputError("Cannot batch an empty list of structures.")
        numbers, coords, lattices, counts = [], [], [], []
        for position, structure in enumerate(structures):
            if check:
                try:
                    check_structure(structure)
                except CrystalInputError as error:
                    raise CrystalInputError(f"Structure {position} of the list: {error}") from error
            elif not structure.is_ordered:
                raise CrystalInputError(f"Structure {position} is disordered; CrystalBatch holds ordered crystals.")
            numbers.append(np.array([site.specie.Z for site in structure], dtype=np.int64))
            coords.append(np.asarray(structure.frac_coords, dtype=np.float64))
            lattices.append(np.asarray(structure.lattice.matrix, dtype=np.float64))
            counts.append(len(structure))
        return cls(
            atomic_numbers=torch.from_numpy(np.concatenate(numbers)),
            frac_coords=torch.from_numpy(np.concatenate(coords)).to(dtype),
            lattice=torch.from_numpy(np.stack(lattices)).to(dtype),
            num_atoms=torch.tensor(counts, dtype=torch.int64),
        )

    def to_structures(self) -> list[Structure]:
        """Back to pymatgen structures, one per crystal (coordinates kept as given, not wrapped)."""
        numbers = self.atomic_numbers.detach().cpu().numpy()
        coords = self.frac_coords.detach().cpu().to(torch.float64).numpy()
        lattices = self.lattice.detach().cpu().to(torch.float64).numpy()
        counts = self.num_atoms.detach().cpu().numpy()
        structures, start = [], 0
        for lattice, count in zip(lattices, counts):
            stop = start + int(count)
            structures.append(
                Structure(Lattice(lattice), numbers[start:stop].tolist(), coords[start:stop], coords_are_cartesian=False)
            )
            start = stop
        return structures


def collate(batches: Sequence[CrystalBatch]) -> CrystalBatch:
    """Join several batches (e.g. single crystals from a dataset) into one."""
    if len(batches) == 0:
        raise CrystalInputError("Cannot collate an empty list of batches.")
    return CrystalBatch(
        atomic_numbers=torch.cat([b.atomic_numbers for b in batches]),
        frac_coords=torch.cat([b.frac_coords for b in batches]),
        lattice=torch.cat([b.lattice for b in batches]),
        num_atoms=torch.cat([b.num_atoms for b in batches]),
    )
