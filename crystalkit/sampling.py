"""The one sampling interface every generator in the kit offers.

Baselines (random symmetric structures, prototype substitution) and the
learned models (VAE, GAN, diffusion, flow, language model) all answer the same
call, so a notebook or a benchmark can swap one for another::

    samples = generator.sample(["SrTiO3", "C8"], num_samples=5, seed=0)
    samples[0]        # five candidate structures for SrTiO3

* Crystal structure prediction (CSP): pass compositions; you get back one list
  per composition with ``num_samples`` pymatgen structures, each with exactly
  that composition and atom count.
* De novo generation: pass ``None``; you get back one list of ``num_samples``
  structures whose composition the generator chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pymatgen.core import Composition, Structure

from crystalkit.errors import CrystalInputError

__all__ = ["StructureGenerator", "as_compositions"]


@runtime_checkable
class StructureGenerator(Protocol):
    """Anything that turns compositions (or nothing) into candidate structures."""

    def sample(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
    ) -> list[list[Structure]]:
        """CSP: one list of ``num_samples`` structures per composition; de novo (None): a single list."""
        ...


def as_compositions(compositions: Sequence[Composition | str]) -> list[Composition]:
    """Parse formulas such as ``"SrTiO3"`` or ``"C8"`` into pymatgen compositions.

    The formula fixes the atom count of the cell: ``"C8"`` asks for an
    eight-atom carbon cell, ``"Sr2Ti2O6"`` for a doubled perovskite cell.

    Raises:
        CrystalInputError: a formula cannot be parsed, names an unknown element, or is empty.
    """
    if isinstance(compositions, (str, Composition)):
        compositions = [compositions]
    parsed = []
    for item in compositions:
        try:
            composition = item if isinstance(item, Composition) else Composition(item)
        except Exception as error:  # pymatgen raises ValueError or KeyError-like errors
            raise CrystalInputError(f"Cannot read the formula {item!r}: {error}. Write it like 'SrTiO3' or 'C8'.") from error
        if composition.num_atoms < 1 or abs(composition.num_atoms - round(composition.num_atoms)) > 1e-8:
            raise CrystalInputError(
                f"The formula {item!r} must describe a whole number of atoms (>= 1) in the cell, "
                f"got {composition.num_atoms}."
            )
        parsed.append(composition)
    return parsed
