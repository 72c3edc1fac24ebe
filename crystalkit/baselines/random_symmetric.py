"""Baseline 1: random symmetric crystals, the bar a generative model must clear first.

The simplest crystal "generator" knows nothing about chemistry: pick a space
group, place the atoms on random Wyckoff positions of that group, and draw a
random lattice of the right shape and a sensible volume. PyXtal (Fredericks
et al., Comput. Phys. Commun. 261, 107810 (2021)) does exactly this and
also keeps atoms from overlapping. Real crystals are far from uniformly
spread over the 230 groups (a few dozen hold most known structures), so we
draw the group from the distribution seen in a training set instead of
uniformly; that alone is a surprisingly strong prior (AIRSS, Pickard & Needs
2011, searches structures this way).

Two details decide whether the baseline is fair:

* **Exact composition.** PyXtal fills the *conventional* cell with exactly the
  atoms asked for, so a group is usable only if those counts can be split
  into its Wyckoff multiplicities (four Sr atoms fit Fm-3m's 4a site; one Sr
  atom does not, since the conventional F cell holds at least four of every
  orbit). We keep only compatible groups before drawing, then redraw if
  PyXtal still fails (it gives up when it cannot place atoms far enough apart).
* **Seeds.** Every random choice, PyXtal's included, flows from one
  ``numpy.random.Generator``, so the same seed gives the same crystals.
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pymatgen.core import Composition, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.sampling import as_compositions

__all__ = ["RandomSymmetricBaseline", "spacegroup_counts", "GenerationFailedError"]


class GenerationFailedError(RuntimeError):
    """A generator could not make a structure for a composition within its attempts."""


def spacegroup_counts(structures: Sequence[Structure], symprec: float = 0.1) -> Counter:
    """How often each space group number (1-230) occurs among ``structures``, at tolerance ``symprec`` Å.

    Use it to fit :class:`RandomSymmetricBaseline` to a training set (bundled
    datasets also carry a ``spacegroup_number`` label, which is faster).
    """
    from crystalkit.validation.symmetry import spacegroup

    return Counter(spacegroup(structure, symprec)[1] for structure in structures)


class RandomSymmetricBaseline:
    """Random PyXtal crystals with space groups drawn from a training distribution.

    Implements :class:`crystalkit.sampling.StructureGenerator`.

    Args:
        spacegroup_counts: {space group number: count (or weight)} from a training
            set; None means uniform over all 230 groups.
        training_compositions: compositions to draw from in de novo mode
            (``sample(None, ...)``); not needed for CSP.
        volume_factor: PyXtal's volume scale: the cell volume is this factor times
            the sum of the atoms' volumes estimated from their radii. PyXtal's
            default of 1.1 gives reasonably dense cells.
        max_attempts: draws of a space group (and PyXtal tries) before falling back
            to P1, which accepts any atom count.

    Every returned structure records how it was made in ``structure.properties``:
    ``{"generator": "random_symmetric", "spacegroup": int, "attempts": int}``.

    Example:
        >>> baseline = RandomSymmetricBaseline({221: 10, 99: 3})
        >>> crystals = baseline.sample(["SrTiO3"], num_samples=4, seed=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        spacegroup_counts: Mapping[int, float] | None = None,
        *,
        training_compositions: Sequence[Composition | str] | None = None,
        volume_factor: float = 1.1,
        max_attempts: int = 20,
    ):
        counts = {g: 1.0 for g in range(1, 231)} if spacegroup_counts is None else dict(spacegroup_counts)
        bad = [g for g, w in counts.items() if not (isinstance(g, (int, np.integer)) and 1 <= g <= 230) or w < 0]
        if bad or not any(w > 0 for w in counts.values()):
            raise CrystalInputError(
                f"spacegroup_counts must map space group numbers 1-230 to non-negative counts, some positive; "
                f"problem entries: {bad[:5] or 'all counts are zero'}."
            )
        if volume_factor <= 0 or max_attempts < 1:
            raise CrystalInputError(
                f"Need volume_factor > 0 and max_attempts >= 1, got {volume_factor}, {max_attempts}."
            )
        self.spacegroup_weights = {int(g): float(w) for g, w in counts.items() if w > 0}
        self.training_compositions = (
            None if training_compositions is None else as_compositions(list(training_compositions))
        )
        self.volume_factor = volume_factor
        self.max_attempts = max_attempts

    @classmethod
    def from_structures(
        cls,
        structures: Sequence[Structure],
        *,
        symprec: float = 0.1,
        spacegroups: Sequence[int] | None = None,
        **kwargs,
    ) -> RandomSymmetricBaseline:
        """Fit the space-group distribution and the composition pool to a training set.

        Args:
            structures: training crystals.
            symprec: tolerance (Å) for finding their space groups.
            spacegroups: their space group numbers if already known (skips the analysis).
            **kwargs: passed to the constructor (``volume_factor``, ``max_attempts``).
        """
        if spacegroups is not None:
            counts = Counter(int(g) for g in spacegroups)
        else:
            counts = spacegroup_counts(structures, symprec)
        return cls(counts, training_compositions=[s.composition for s in structures], **kwargs)

    def sample(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
    ) -> list[list[Structure]]:
        """CSP: ``num_samples`` random crystals per composition; de novo (None): one list of ``num_samples``.

        Raises:
            CrystalInputError: bad compositions or ``num_samples``; de novo without training compositions.
            GenerationFailedError: PyXtal could not place the atoms even in P1.
        """
        if num_samples < 1:
            raise CrystalInputError(f"num_samples must be >= 1, got {num_samples}.")
        rng = np.random.default_rng(seed)
        if compositions is None:
            if not self.training_compositions:
                raise CrystalInputError(
                    "De novo sampling draws compositions from a training set: build the baseline with "
                    "training_compositions=... (or RandomSymmetricBaseline.from_structures)."
                )
            picks = rng.integers(len(self.training_compositions), size=num_samples)
            return [[self._one(self.training_compositions[int(i)], rng) for i in picks]]
        return [
            [self._one(composition, rng) for _ in range(num_samples)] for composition in as_compositions(compositions)
        ]

    def _one(self, composition: Composition, rng: np.random.Generator) -> Structure:
        """One random crystal with exactly ``composition`` (atom counts of the cell)."""
        symbols, counts = _symbols_and_counts(composition)
        groups, weights = self._compatible(tuple(sorted(counts)))
        attempts = 0
        while attempts < self.max_attempts and groups:
            attempts += 1
            group = int(rng.choice(groups, p=weights))
            structure = _pyxtal_structure(group, symbols, counts, self.volume_factor, rng)
            if structure is not None:
                return _checked(structure, composition, group, attempts)
        for extra in range(1, self.max_attempts + 1):  # P1 takes any counts; it only fails on packing
            structure = _pyxtal_structure(1, symbols, counts, self.volume_factor, rng)
            if structure is not None:
                return _checked(structure, composition, 1, attempts + extra)
        raise GenerationFailedError(
            f"PyXtal could not place {composition.formula} in any drawn space group, nor in P1, after "
            f"{attempts + self.max_attempts} tries. Try a larger volume_factor."
        )

    def _compatible(self, counts: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
        """The training groups whose Wyckoff positions can hold ``counts`` atoms, and their probabilities."""
        groups = [g for g in sorted(self.spacegroup_weights) if _is_compatible(g, counts)]
        weights = np.array([self.spacegroup_weights[g] for g in groups])
        return groups, weights / weights.sum() if groups else weights


def _symbols_and_counts(composition: Composition) -> tuple[list[str], list[int]]:
    """Element symbols and whole atom counts of a cell composition (fractional counts are refused)."""
    amounts = composition.get_el_amt_dict()
    if any(abs(amount - round(amount)) > 1e-8 for amount in amounts.values()):
        raise CrystalInputError(
            f"{composition.formula} has fractional atom counts: a cell holds whole atoms. For a disordered "
            "composition, choose an ordered cell first (e.g. Fe0.5Ni0.5 -> FeNi)."
        )
    return list(amounts), [int(round(amount)) for amount in amounts.values()]


@functools.lru_cache(maxsize=65536)
def _is_compatible(group: int, counts: tuple[int, ...]) -> bool:
    """Can the conventional cell of ``group`` hold exactly these numbers of atoms of each element?"""
    from pyxtal.symmetry import Group

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(Group(group).check_compatible(list(counts))[0])


def _pyxtal_structure(group: int, symbols: list[str], counts: list[int], factor: float, rng) -> Structure | None:
    """PyXtal's random crystal as a pymatgen Structure, or None if PyXtal gave up."""
    from pyxtal import pyxtal

    crystal = pyxtal()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crystal.from_random(3, group, symbols, counts, factor=factor, random_state=int(rng.integers(2**31)))
    except Exception:  # PyXtal raises several error types when it cannot place the atoms
        return None
    if not crystal.valid:
        return None
    return crystal.to_pymatgen()


def _checked(structure: Structure, composition: Composition, group: int, attempts: int) -> Structure:
    """Guarantee the promised composition and atom count, and record provenance."""
    if len(structure) != int(round(composition.num_atoms)) or not structure.composition.almost_equals(composition):
        raise GenerationFailedError(
            f"PyXtal returned {structure.composition.formula} for {composition.formula} in group {group}; "
            "this should not happen, please report it."
        )
    structure.properties = {"generator": "random_symmetric", "spacegroup": group, "attempts": attempts}
    return structure
