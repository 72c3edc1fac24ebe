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

from pymatgen.core import Composition, DummySpecies, Element, Species, Structure

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
    eight-atom carbon cell, ``"Sr2Ti2O6"`` for a doubled perovskite cell. So
    every element needs a whole number of atoms (``"Fe0.5Ni0.5"`` is refused).

    pymatgen reads an unknown symbol such as ``"Xx"`` as a placeholder
    ("dummy species") without complaint, and the mistake would surface much
    later as a puzzling error; every symbol is therefore checked here.

    Raises:
        CrystalInputError: a formula cannot be parsed, names an unknown element,
            is empty, or asks for a fraction of an atom.
    """
    if isinstance(compositions, (str, Composition)):
        compositions = [compositions]
    return [_as_composition(item) for item in compositions]


_HOW_TO_WRITE = "Write element symbols as in the periodic table and whole atom counts, like 'SrTiO3' or 'C8'."


def _as_composition(item: Composition | str) -> Composition:
    """One checked composition (see :func:`as_compositions`)."""
    if isinstance(item, Composition):
        composition = item
    elif isinstance(item, str):
        if not item.strip():
            raise CrystalInputError(f"An empty formula was given. {_HOW_TO_WRITE}")
        try:
            composition = Composition(item.strip())
        except Exception as error:  # pymatgen raises ValueError or KeyError-like errors
            raise CrystalInputError(f"Cannot read the formula {item!r} ({error}). {_HOW_TO_WRITE}") from None
    else:
        raise CrystalInputError(
            f"A composition must be a formula string or a pymatgen Composition, got {type(item).__name__}."
        )
    unknown = [str(getattr(species, "symbol", species)) for species in composition if not _is_element(species)]
    if unknown:
        names = ", ".join(repr(symbol) for symbol in unknown)
        what = "which is not a chemical element" if len(unknown) == 1 else "which are not chemical elements"
        raise CrystalInputError(f"The formula {str(item)!r} names {names}, {what}. {_HOW_TO_WRITE}")
    if composition.num_atoms < 1:
        raise CrystalInputError(f"The formula {str(item)!r} must describe at least one atom. {_HOW_TO_WRITE}")
    fractional = {str(el): amount for el, amount in composition.items() if abs(amount - round(amount)) > 1e-8}
    if fractional:
        element, amount = next(iter(fractional.items()))
        raise CrystalInputError(
            f"The formula {str(item)!r} asks for {amount:g} {element} atoms, but a cell holds whole atoms of each "
            "element. For a disordered composition choose an ordered cell first (e.g. Fe0.5Ni0.5 -> FeNi)."
        )
    return composition


def _is_element(species: object) -> bool:
    """True for a real element (or an element with an oxidation state), False for pymatgen's placeholders."""
    if isinstance(species, DummySpecies):
        return False
    return isinstance(species, (Element, Species)) and Element.is_valid_symbol(species.symbol)
