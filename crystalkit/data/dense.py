"""`DenseCrystals`: a batch padded to a fixed atom count, the form the networks compute on.

`CrystalBatch` stores atoms "flat" (all atoms of all crystals one after
another), which is the right form for exchanging crystals. For cells of a few
dozen atoms the networks are faster and much simpler to read on a *padded*
form: every crystal gets ``Nmax`` atom slots, and a boolean mask says which
slots hold a real atom::

    types       (B, Nmax)     int64   atomic number Z, 0 in padding slots
    frac        (B, Nmax, 3)  float   fractional coordinates in [0, 1)
    lattice     (B, 3, 3)     float   rows are the cell vectors in Å
    mask        (B, Nmax)     bool    True where a slot holds an atom
    condition   (B,) or None  float   optional property label (NaN: unknown)

All pairs of atoms of a crystal then form a ``(B, Nmax, Nmax)`` block that a
single matrix multiplication processes, with no Python loop over crystals.
The conversion from and to `CrystalBatch` is vectorised too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from crystalkit.data.batch import CrystalBatch
from crystalkit.errors import CrystalInputError

__all__ = ["DenseCrystals"]


@dataclass(frozen=True)
class DenseCrystals:
    """A padded batch of crystals (see the module docstring for the shapes)."""

    types: torch.Tensor  # (B, Nmax) int64
    frac: torch.Tensor  # (B, Nmax, 3)
    lattice: torch.Tensor  # (B, 3, 3)
    mask: torch.Tensor  # (B, Nmax) bool
    condition: torch.Tensor | None = None  # (B,) float, NaN where unknown

    def __post_init__(self) -> None:
        if self.types.dim() != 2:
            raise CrystalInputError(f"types must be (B, Nmax), got {tuple(self.types.shape)}.")
        num_crystals, max_atoms = self.types.shape
        expected = {
            "frac": (num_crystals, max_atoms, 3),
            "lattice": (num_crystals, 3, 3),
            "mask": (num_crystals, max_atoms),
        }
        problems = [
            f"{name} must be {shape}, got {tuple(getattr(self, name).shape)}"
            for name, shape in expected.items()
            if tuple(getattr(self, name).shape) != shape
        ]
        if self.condition is not None and tuple(self.condition.shape) != (num_crystals,):
            problems.append(f"condition must be ({num_crystals},), got {tuple(self.condition.shape)}")
        if self.mask.dtype != torch.bool:
            problems.append("mask must be a bool tensor")
        if problems:
            raise CrystalInputError("Inconsistent DenseCrystals: " + "; ".join(problems) + ".")

    @property
    def num_crystals(self) -> int:
        return int(self.types.shape[0])

    def __len__(self) -> int:
        return self.num_crystals

    @property
    def num_atoms(self) -> torch.Tensor:
        """``(B,)`` atoms in each crystal."""
        return self.mask.sum(dim=1)

    @property
    def device(self) -> torch.device:
        return self.frac.device

    def to(self, device: torch.device | str) -> DenseCrystals:
        """A copy on ``device``."""
        return DenseCrystals(**{f.name: _apply_unless_none(getattr(self, f.name), lambda t: t.to(device))
                                for f in fields(self)})

    def index(self, rows: torch.Tensor | slice) -> DenseCrystals:
        """The crystals at ``rows`` (an index tensor or a slice): plain tensor slicing, no Python loop."""
        return DenseCrystals(**{f.name: _apply_unless_none(getattr(self, f.name), lambda t: t[rows])
                                for f in fields(self)})

    def trimmed(self) -> DenseCrystals:
        """Drop padding columns that no crystal of this batch uses (saves work on mixed-size batches)."""
        width = int(self.mask.sum(dim=1).max())
        if width == self.types.shape[1]:
            return self
        return self.replace(types=self.types[:, :width], frac=self.frac[:, :width], mask=self.mask[:, :width])

    def replace(self, **changes: torch.Tensor | None) -> DenseCrystals:
        """A new batch with some fields swapped, e.g. ``dense.replace(frac=noisy)``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return DenseCrystals(**values)

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_batch(
        cls,
        batch: CrystalBatch,
        *,
        condition: torch.Tensor | None = None,
        max_atoms: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> DenseCrystals:
        """Pad a flat `CrystalBatch`.

        Args:
            batch: the crystals.
            condition: optional ``(B,)`` property labels, one per crystal.
            max_atoms: width of the padded form; default the largest crystal.
            dtype: float dtype of coordinates and lattices (float32 for the networks).
        """
        counts = batch.num_atoms
        width = int(counts.max()) if max_atoms is None else max_atoms
        if int(counts.max()) > width:
            raise CrystalInputError(f"A crystal has {int(counts.max())} atoms, more than max_atoms={width}.")
        device = batch.device
        slots = torch.arange(width, device=device)  # (Nmax,)
        mask = slots.unsqueeze(0) < counts.unsqueeze(1)  # (B, Nmax)
        types = torch.zeros(mask.shape, dtype=torch.int64, device=device)
        frac = torch.zeros(*mask.shape, 3, dtype=dtype, device=device)
        # Flat atoms fill the True slots of the mask in row-major order, which is exactly their flat order.
        types[mask] = batch.atomic_numbers.to(device)
        frac[mask] = batch.frac_coords.to(dtype)
        if condition is not None:
            condition = torch.as_tensor(condition, dtype=dtype, device=device).reshape(-1)
        return cls(types=types, frac=frac, lattice=batch.lattice.to(dtype), mask=mask, condition=condition)

    def to_batch(self, dtype: torch.dtype = torch.float64) -> CrystalBatch:
        """Back to a flat `CrystalBatch` (padding slots dropped)."""
        return CrystalBatch(
            atomic_numbers=self.types[self.mask],
            frac_coords=self.frac[self.mask].to(dtype),
            lattice=self.lattice.to(dtype),
            num_atoms=self.mask.sum(dim=1),
        )


def _apply_unless_none(
    value: torch.Tensor | None, function: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor | None:
    """``function(value)`` for a tensor field; an absent optional field (``condition=None``) stays None."""
    return None if value is None else function(value)
