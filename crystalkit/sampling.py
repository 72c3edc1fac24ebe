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

A CSP generator becomes a de novo one by choosing the composition first:
:class:`CompositionFirst` draws cell compositions from a pool (say, the
training set's) and asks the CSP generator for their crystals, i.e. it samples
``p(crystal) = p(composition) p(crystal | composition)`` with the first factor
taken from data. Its samples can be novel structures, never novel compositions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from pymatgen.core import Composition, DummySpecies, Element, Species, Structure

from crystalkit.errors import CrystalInputError

__all__ = ["CompositionFirst", "StructureGenerator", "as_compositions"]


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


class CompositionFirst:
    """De novo generation from a CSP generator: draw a cell composition, then predict its crystal.

    ``sample(None, n)`` draws ``n`` compositions (with replacement, uniformly
    from ``compositions``: the empirical distribution of the pool) and asks
    ``csp_generator`` for one crystal of each, in one batched call. Given
    compositions, it is the CSP generator itself. Extra keyword arguments of
    ``sample`` (a temperature, a number of steps) go to the CSP generator.

    Args:
        csp_generator: any :class:`StructureGenerator` that does CSP.
        compositions: the pool of cell compositions (formulas or Compositions,
            atom counts as in the cell); :meth:`from_structures` takes them from crystals.

    Example:
        >>> generator = CompositionFirst.from_structures(csp_model, train.structures)  # doctest: +SKIP
        >>> crystals = generator.sample(None, 100, seed=0)[0]  # doctest: +SKIP
    """

    def __init__(self, csp_generator: StructureGenerator, compositions: Sequence[Composition | str]) -> None:
        if not callable(getattr(csp_generator, "sample", None)):
            raise CrystalInputError(f"CompositionFirst needs a generator with a sample() method (a CSP model or "
                                    f"baseline), got {type(csp_generator).__name__}.")
        if isinstance(compositions, (str, Composition)) or len(compositions) == 0:
            raise CrystalInputError("CompositionFirst needs a non-empty list of compositions to draw from, "
                                    "e.g. CompositionFirst.from_structures(model, train.structures).")
        self.csp_generator = csp_generator
        self.compositions = as_compositions(compositions)

    @classmethod
    def from_structures(cls, csp_generator: StructureGenerator, structures: Sequence[Structure]) -> CompositionFirst:
        """Draw from the cell compositions of ``structures`` (each crystal once, so common ones come up more)."""
        if isinstance(structures, Structure):
            raise CrystalInputError("Pass a list of structures, not a single Structure.")
        return cls(csp_generator, [s.composition for s in structures])

    def sample(self, compositions: Sequence[Composition | str] | None, num_samples: int = 1, *,
               seed: int | None = None, **options) -> list[list[Structure]]:
        """CSP: the CSP generator's answer; de novo (``None``): ``num_samples`` crystals of drawn compositions."""
        if compositions is not None:
            return self.csp_generator.sample(compositions, num_samples, seed=seed, **options)
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
        picks = np.random.default_rng(seed).integers(len(self.compositions), size=num_samples)
        drawn = [self.compositions[int(i)] for i in picks]
        answers = self.csp_generator.sample(drawn, 1, seed=seed, **options)
        if len(answers) != num_samples:
            raise CrystalInputError(f"The CSP generator returned {len(answers)} lists for {num_samples} "
                                    "compositions; a StructureGenerator returns one list per composition.")
        return [[crystals[0] if crystals else None for crystals in answers]]


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
