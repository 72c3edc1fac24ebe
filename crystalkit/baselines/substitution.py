"""Baseline 2: prototype substitution, how chemists guessed structures long before machine learning.

Most new compounds crystallise like a known one with similar elements:
BaTiO3 like SrTiO3, NaCl like KCl. So, to predict the structure of a new
composition, take a known crystal (a *prototype*) with the same stoichiometry
and atom count, swap in the new elements, and rescale the cell. The only
choices are which prototype and which element goes on which site; we rank
every (prototype, element mapping) pair by how chemically similar the swapped
elements are, and return the best ones.

How "similar" is measured (``similarity=``):

* ``"substitution"`` (default): the data-mined ion substitution statistics of
  Hautier et al. (Inorg. Chem. 50, 656 (2011)), shipped with pymatgen. Their
  pair correlation says how much more often two ions replace each other in
  the ICSD than chance would predict; we take, for two elements, the largest
  value over their common oxidation states, and score a mapping by the sum of
  the logarithms. An element replacing itself always scores best.
* ``"chemistry"``: minus a distance in (Pauling electronegativity, atomic radius)
  space, ``|Δχ| / 0.5 + |Δr| / 0.3 Å``: no data, just periodic trends.

A mapping only pairs elements with the same number of atoms in the cell, so
the composition and atom count come out exact. If no training crystal has the
same counts, a prototype whose counts divide them is repeated into a supercell
(the target Sr2Ti2O6 from the prototype SrTiO3); if there is none either, a
``fallback`` generator (e.g. :class:`RandomSymmetricBaseline`) is used, or the
call raises.

The cell is rescaled so that the volume per atom follows the atoms' sizes:
``V_new = V_prototype * sum(r_new^3) / sum(r_old^3)`` with atomic radii ``r``.
(The CSP match metric normalises volume away; energies and XRD do not.)
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pymatgen.core import Composition, Element, Structure

from crystalkit.baselines.random_symmetric import _symbols_and_counts
from crystalkit.errors import CrystalInputError
from crystalkit.sampling import StructureGenerator, as_compositions

__all__ = ["PrototypeSubstitutionBaseline", "element_similarity"]

Similarity = Literal["substitution", "chemistry"]

#: Largest number of element mappings tried per prototype; beyond it only the best mapping
#: per group of equal counts is used (found with the Hungarian algorithm).
MAX_MAPPINGS = 720

_MAX_Z = 103


class PrototypeSubstitutionBaseline:
    """Swap chemically similar elements into known crystals with the same stoichiometry.

    Implements :class:`crystalkit.sampling.StructureGenerator` for CSP (the
    caller gives compositions). De novo sampling (``None``) is not what this
    baseline does and raises.

    Args:
        training_structures: the prototypes (ordered crystals).
        names: an identifier per prototype (e.g. material ids), recorded in the output.
        similarity: "substitution" (ICSD substitution statistics) or "chemistry"
            (electronegativity and radius); see the module docstring.
        rescale_volume: rescale each new cell by the atoms' sizes.
        fallback: generator used for compositions without any usable prototype;
            None raises :class:`CrystalInputError` for them instead.

    The ranking is deterministic; ``seed`` only breaks exact ties (such as the
    many same-size carbon prototypes of a carbon target). Each returned
    structure records ``structure.properties = {"generator": "prototype_substitution",
    "prototype": name, "mapping": {old: new}, "score": float, "supercell": int}``,
    or the fallback's own record plus ``"fallback": True``.
    """

    def __init__(
        self,
        training_structures: Sequence[Structure],
        *,
        names: Sequence[str] | None = None,
        similarity: Similarity = "substitution",
        rescale_volume: bool = True,
        fallback: StructureGenerator | None = None,
    ):
        if isinstance(training_structures, Structure) or len(training_structures) == 0:
            raise CrystalInputError("Pass a non-empty list of training structures to use as prototypes.")
        if similarity not in ("substitution", "chemistry"):
            raise CrystalInputError(f"similarity must be 'substitution' or 'chemistry', got {similarity!r}.")
        names = [str(i) for i in range(len(training_structures))] if names is None else [str(n) for n in names]
        if len(names) != len(training_structures):
            raise CrystalInputError(f"Got {len(names)} names for {len(training_structures)} prototypes.")
        self.prototypes: list[Structure] = []
        self.names: list[str] = []
        for structure, name in zip(training_structures, names, strict=True):
            if not structure.is_ordered:
                raise CrystalInputError(f"Prototype {name} is disordered: prototypes must be ordered crystals.")
            self.prototypes.append(structure)
            self.names.append(name)
        self.similarity = similarity
        self.rescale_volume = rescale_volume
        self.fallback = fallback
        # Prototypes grouped by their sorted atom counts, e.g. (1, 1, 3) for a 5-atom ABX3 cell.
        # Within a group, each prototype's atomic numbers are listed in the order of those counts.
        groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = defaultdict(list)
        for index, structure in enumerate(self.prototypes):
            signature, numbers = _signature(structure.composition)
            groups[signature].append((index, numbers))
        self._groups = {
            signature: (np.array([i for i, _ in members]), np.array([z for _, z in members]))  # (P,), (P, E)
            for signature, members in groups.items()
        }

    def sample(
        self,
        compositions: Sequence[Composition | str] | None,
        num_samples: int = 1,
        *,
        seed: int | None = None,
    ) -> list[list[Structure]]:
        """The ``num_samples`` best-scoring substitutions for each composition.

        If fewer (prototype, mapping) pairs exist than ``num_samples``, the best
        ones are repeated in order, so every list has ``num_samples`` crystals.

        Raises:
            CrystalInputError: de novo mode, bad input, or a composition with no
                prototype and no fallback.
        """
        if compositions is None:
            raise CrystalInputError(
                "Prototype substitution needs target compositions (CSP); for de novo sampling use "
                "RandomSymmetricBaseline or a learned model."
            )
        if num_samples < 1:
            raise CrystalInputError(f"num_samples must be >= 1, got {num_samples}.")
        rng = np.random.default_rng(seed)
        results = []
        for composition in as_compositions(compositions):
            ranked = self.rank(composition, num_samples, rng=rng)
            if not ranked:
                results.append(self._fallback(composition, num_samples, rng))
                continue
            crystals = [self._build(composition, *ranked[i % len(ranked)]) for i in range(num_samples)]
            results.append(crystals)
        return results

    def rank(
        self, composition: Composition | str, top: int = 10, *, rng: np.random.Generator | None = None
    ) -> list[tuple[int, dict[str, str], float, int]]:
        """The ``top`` best (prototype index, {old: new element}, score, supercell multiple), best first.

        Exact stoichiometry matches are used if any exist; otherwise prototypes
        whose counts divide the target's, repeated ``multiple`` times.
        """
        composition = as_compositions([composition])[0]
        _, counts = _symbols_and_counts(composition)
        rng = rng if rng is not None else np.random.default_rng(0)
        target_signature = tuple(sorted(counts))
        for multiple in _divisors(math.gcd(*counts)):
            signature = tuple(c // multiple for c in target_signature)
            if signature in self._groups:
                return self._rank_group(composition, signature, multiple, top, rng)
        return []

    def _rank_group(self, composition, signature, multiple, top, rng):
        indices, numbers = self._groups[signature]  # (P,), (P, E): prototype atomic numbers in count order
        _, target_numbers = _signature(composition)  # target atomic numbers in the same count order
        table = _similarity_table(self.similarity)  # (Z, Z)
        target = np.array(target_numbers)  # (E,)
        scores, mappings = [], []
        for permutation in _block_permutations(signature, numbers, target, table):
            scores.append(table[target[None, :], numbers[:, permutation]].sum(axis=1))  # (P,)
            mappings.append(permutation)
        scores = np.stack(scores, axis=1)  # (P, M): score of prototype p under mapping m
        ties = rng.random(scores.shape)  # random order among exactly equal scores
        order = np.lexsort((ties.ravel(), -np.round(scores.ravel(), 9)))[:top]
        ranked = []
        for flat in order:
            p, m = divmod(int(flat), scores.shape[1])
            old = [Element.from_Z(int(z)).symbol for z in numbers[p, mappings[m]]]
            new = [Element.from_Z(int(z)).symbol for z in target]
            ranked.append((int(indices[p]), dict(zip(old, new, strict=True)), float(scores[p, m]), multiple))
        return ranked

    def _build(self, composition, index, mapping, score, multiple) -> Structure:
        """Swap the elements of prototype ``index``, repeat it ``multiple`` times, rescale."""
        prototype = self.prototypes[index]
        structure = prototype.copy()
        structure.replace_species({Element(old): Element(new) for old, new in mapping.items()})
        if multiple > 1:
            axis = int(np.argmin(structure.lattice.abc))  # repeat along the shortest axis
            structure.make_supercell([multiple if i == axis else 1 for i in range(3)])
        if self.rescale_volume:
            ratio = _size(structure) / _size(prototype) / multiple
            structure.scale_lattice(prototype.volume * multiple * ratio)
        if not structure.composition.almost_equals(composition) or len(structure) != round(composition.num_atoms):
            raise CrystalInputError(f"Internal error: built {structure.formula} for {composition.formula}.")
        structure.properties = {
            "generator": "prototype_substitution",
            "prototype": self.names[index],
            "mapping": mapping,
            "score": score,
            "supercell": multiple,
        }
        return structure

    def _fallback(self, composition: Composition, num_samples: int, rng: np.random.Generator) -> list[Structure]:
        if self.fallback is None:
            raise CrystalInputError(
                f"No training structure has the stoichiometry of {composition.formula} (atom counts "
                f"{sorted(_symbols_and_counts(composition)[1])}) or a divisor of it. Pass fallback="
                "RandomSymmetricBaseline(...) to generate such compositions at random instead."
            )
        crystals = self.fallback.sample([composition], num_samples, seed=int(rng.integers(2**31)))[0]
        for crystal in crystals:
            crystal.properties = dict(getattr(crystal, "properties", {}) or {}) | {"fallback": True}
        return crystals


def element_similarity(a: str, b: str, similarity: Similarity = "substitution") -> float:
    """Similarity score of two elements used to rank substitutions (higher = more alike).

    "substitution": largest log pair correlation over their oxidation states in the
    Hautier et al. ICSD statistics; "chemistry": minus the (electronegativity, radius) distance.
    """
    table = _similarity_table(similarity)
    return float(table[Element(a).Z, Element(b).Z])


def _signature(composition: Composition) -> tuple[tuple[int, ...], list[int]]:
    """Sorted atom counts, and atomic numbers in that order (ties by Z): SrTiO3 -> (1, 1, 3), [Ti? Sr?, O]."""
    symbols, counts = _symbols_and_counts(composition)
    pairs = sorted(zip(counts, (Element(s).Z for s in symbols), strict=True))
    return tuple(c for c, _ in pairs), [z for _, z in pairs]


def _block_permutations(signature, numbers, target, table):
    """Column orders of the prototype elements that keep equal counts together.

    All of them when there are at most MAX_MAPPINGS; otherwise, per block, the
    assignment maximising the summed similarity to the average prototype.
    """
    from scipy.optimize import linear_sum_assignment

    blocks: list[list[int]] = []
    for position, count in enumerate(signature):
        if position and count == signature[position - 1]:
            blocks[-1].append(position)
        else:
            blocks.append([position])
    total = math.prod(math.factorial(len(block)) for block in blocks)
    if total <= MAX_MAPPINGS:
        for choice in itertools.product(*(itertools.permutations(block) for block in blocks)):
            yield [column for block in choice for column in block]
        return
    permutation = []
    for block in blocks:  # Hungarian per block on the similarity averaged over prototypes
        cost = -np.array([[table[target[i], numbers[:, j]].mean() for j in block] for i in block])
        rows, columns = linear_sum_assignment(cost)
        permutation += [block[c] for _, c in sorted(zip(rows, columns, strict=True))]
    yield permutation


@functools.cache
def _similarity_table(similarity: Similarity) -> np.ndarray:
    """(Z, Z) table of element similarities, computed once; the diagonal is the best value."""
    table = _substitution_table() if similarity == "substitution" else _chemistry_table()
    np.fill_diagonal(table, table.max())
    return table


def _substitution_table() -> np.ndarray:
    from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        statistics = SubstitutionProbability()
    species = sorted(statistics.species, key=str)
    table = np.full((_MAX_Z + 1, _MAX_Z + 1), -np.inf)
    for a in species:
        for b in species:
            value = math.log(statistics.pair_corr(a, b))
            table[a.Z, b.Z] = max(table[a.Z, b.Z], value)
    floor = table[np.isfinite(table)].min()
    table[~np.isfinite(table)] = floor  # elements absent from the statistics: least similar
    return table


def _chemistry_table() -> np.ndarray:
    electronegativity = np.full(_MAX_Z + 1, np.nan)
    radius = np.full(_MAX_Z + 1, np.nan)
    for z in range(1, _MAX_Z + 1):
        element = Element.from_Z(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            electronegativity[z] = element.X if element.X == element.X else np.nan
            radius[z] = float(element.atomic_radius) if element.atomic_radius is not None else np.nan
    distance = np.abs(electronegativity[:, None] - electronegativity[None, :]) / 0.5
    distance = distance + np.abs(radius[:, None] - radius[None, :]) / 0.3
    table = -distance
    table[~np.isfinite(table)] = np.nanmin(table)
    return table


def _size(structure: Structure) -> float:
    """Sum of cubed atomic radii (Å^3), a proxy for the space the atoms fill."""
    total = 0.0
    for site in structure:
        radius = site.specie.atomic_radius
        total += float(radius) ** 3 if radius is not None else 1.5**3
    return total


def _divisors(n: int) -> list[int]:
    """Divisors in increasing order: 1 first (exact stoichiometry): 12 -> [1, 2, 3, 4, 6, 12]."""
    return [d for d in range(1, n + 1) if n % d == 0]
