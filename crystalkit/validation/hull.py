"""Energy above the convex hull: is a generated crystal thermodynamically stable?

A low energy per atom alone says little: SrTiO3 and elemental Sr cannot be
compared atom for atom. What matters is whether the candidate is lower in
energy than *any mixture* of known phases with the same overall composition.
Plot formation energy against composition for all known phases; the lower
convex envelope of those points is the *convex hull*. A compound on the hull
is stable; one above it would decompose into the hull phases beneath it, and
its height above the hull (eV/atom) is the energy released by decomposing.

    E_hull(x) = min over mixtures of known phases with composition x of their mean energy
    e_above_hull = E_candidate(x) - E_hull(x)          (eV/atom, >= 0 for known phases)

A candidate can also come out *below* the known hull (negative value): a new
stable phase, or (more often, for a generated crystal) a sign that the
reference set is missing the phases that would beat it. Rules of thumb from
Materials Project statistics (Sun et al., Sci. Adv. 2, e1600225 (2016)): most
known metastable inorganic crystals lie within about 0.1 eV/atom of the hull.

Energies must all come from the same model: CHGNet energies against a CHGNet
hull. The default reference is the kit's bundled teaching sets plus CHGNet
energies of the elements, all computed with the same settings; pass your own
as a list of ``(composition, energy_per_atom)`` pairs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from pymatgen.core import Composition, Structure

from crystalkit.errors import CrystalInputError, DatasetNotAvailableError
from crystalkit.validation.relax import RelaxResult

__all__ = [
    "HullResult",
    "energy_above_hull",
    "formation_energy_per_atom",
    "formation_energies",
    "default_reference_entries",
    "elemental_references",
    "ReferenceEntry",
]

#: One point of a reference hull: a composition and its energy in eV/atom.
ReferenceEntry = tuple[Composition | str, float]

#: Bundled file with CHGNet energies (eV/atom) of the relaxed elements.
ELEMENTAL_REFERENCE_FILE = "chgnet_elemental_references.json"


@dataclass(frozen=True)
class HullResult:
    """Where a candidate sits relative to a reference hull.

    Attributes:
        composition: the candidate's composition.
        energy_per_atom: the candidate's energy in eV/atom.
        e_above_hull: energy above the hull in eV/atom (negative: below the known hull).
        formation_energy_per_atom: energy relative to the elemental references, eV/atom.
        decomposition: the hull phases the candidate would decompose into, as
            {reduced formula: fraction of atoms}; the candidate itself if it is on the hull.
        source: where ``energy_per_atom`` came from.
        flags: reasons to distrust the number (e.g. an unconverged relaxation); empty if none.
    """

    composition: Composition
    energy_per_atom: float
    e_above_hull: float
    formation_energy_per_atom: float
    decomposition: dict[str, float]
    source: str
    flags: tuple[str, ...] = ()

    @property
    def is_stable(self) -> bool:
        """On or below the reference hull (within 1 meV/atom)."""
        return self.e_above_hull <= 1e-3

    def summary(self) -> str:
        products = " + ".join(f"{fraction:.2f} {formula}" for formula, fraction in self.decomposition.items())
        flagged = f"  [FLAGGED: {'; '.join(self.flags)}]" if self.flags else ""
        formula, height = self.composition.reduced_formula, 1000 * self.e_above_hull
        if height < -0.5:
            where = f"{-height:.0f} meV/atom BELOW the reference hull (more stable than {products})"
        elif height <= 0.5:
            where = f"on the hull (0 meV/atom; hull phases there: {products})"
        else:
            where = f"{height:.0f} meV/atom above the hull (would decompose into {products})"
        return f"{formula}: {where}; formation energy {self.formation_energy_per_atom:.3f} eV/atom{flagged}"


def energy_above_hull(
    candidate: Structure | RelaxResult | ReferenceEntry,
    reference_entries: Sequence[ReferenceEntry] | None = None,
) -> HullResult:
    """Energy above the convex hull of ``reference_entries``, with decomposition products.

    Args:
        candidate: one of
            * a :class:`RelaxResult` (its final CHGNet energy is used; flagged if not converged),
            * a ``(composition, energy_per_atom)`` pair, energies in eV/atom,
            * a ``Structure``: its CHGNet single-point energy is used *as given*, so
              relax it first unless it is already relaxed (the result is flagged).
        reference_entries: known phases as ``(composition, energy_per_atom)`` pairs
            (pymatgen ``PDEntry``/``ComputedEntry`` objects are accepted too). Must
            include every element of the candidate on its own. Default: the bundled
            teaching sets and CHGNet elemental references
            (:func:`default_reference_entries`).

    Returns:
        A :class:`HullResult`.

    Raises:
        CrystalInputError: an energy is not finite, or the reference lacks an element.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

    composition, energy, source, flags = _candidate_energy(candidate)
    references = default_reference_entries() if reference_entries is None else reference_entries
    elements = set(composition.elements)
    entries = [
        entry for entry in (_as_pd_entry(item, index) for index, item in enumerate(references))
        if set(entry.composition.elements) <= elements
    ]
    covered = {entry.composition.elements[0] for entry in entries if len(entry.composition.elements) == 1}
    missing = sorted(str(element) for element in elements - covered)
    if missing:
        raise CrystalInputError(
            f"The reference set has no entry for the pure element(s) {', '.join(missing)}, so the hull of "
            f"{composition.reduced_formula} cannot be built. Add (element, energy_per_atom) pairs computed "
            "with the same model as the candidate."
        )
    diagram = PhaseDiagram(entries)
    entry = PDEntry(composition, energy * composition.num_atoms, name="candidate")
    decomposition, e_hull = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
    products: dict[str, float] = {}
    for phase, fraction in sorted(decomposition.items(), key=lambda item: -item[1]):
        formula = phase.composition.reduced_formula
        products[formula] = products.get(formula, 0.0) + float(fraction)
    return HullResult(
        composition=composition,
        energy_per_atom=energy,
        e_above_hull=float(e_hull),
        formation_energy_per_atom=float(diagram.get_form_energy_per_atom(entry)),
        decomposition=products,
        source=source,
        flags=flags,
    )


def elemental_references(elements: Sequence[str] | None = None) -> list[tuple[Composition, float]]:
    """CHGNet energies (eV/atom) of the relaxed elements shipped with the kit, as hull entries.

    Args:
        elements: symbols to return (e.g. ``["Sr", "Ti", "O"]``); None returns all.

    Raises:
        DatasetNotAvailableError: the bundled file is missing.
        CrystalInputError: an element asked for has no reference energy.
    """
    table = _elemental_table()
    wanted = list(table) if elements is None else [str(symbol) for symbol in elements]
    missing = [symbol for symbol in wanted if symbol not in table]
    if missing:
        raise CrystalInputError(
            f"No bundled CHGNet reference energy for {', '.join(missing)}; available: {', '.join(sorted(table))}."
        )
    return [(Composition(symbol), table[symbol]) for symbol in wanted]


def formation_energy_per_atom(composition: Composition | str, energy_per_atom: float) -> float:
    """Formation energy (eV/atom) against the bundled CHGNet elemental references.

    ``E_f = E - sum_i x_i mu_i``: the energy per atom minus the atom-fraction
    weighted energies of the pure elements. No hull is needed for this (the
    hull is for *stability*; formation energy only asks "is it bound?").
    """
    composition = _as_composition(composition)
    references = dict(elemental_references([el.symbol for el in composition.elements]))
    return float(energy_per_atom) - sum(
        fraction * references[Composition(el.symbol)] for el, fraction in composition.fractional_composition.items()
    )


def formation_energies(structures: Sequence[Structure], *, on_invalid: str = "nan"):
    """CHGNet single-point formation energies (eV/atom) of many crystals, scored in batches.

    The energies are of the structures *as given* (no relaxation: an upper bound
    for a generated crystal, which relaxing can only lower). A crystal CHGNet
    refuses (see :func:`~crystalkit.validation.relax.check_chgnet_input`) gets
    ``nan`` with a warning naming it, or raises with ``on_invalid="raise"``.

    Returns:
        A numpy array ``(len(structures),)``.
    """
    import numpy as np

    from crystalkit.validation.relax import predict_energies

    energies = predict_energies(structures, on_invalid=on_invalid)
    return np.array([
        formation_energy_per_atom(structure.composition, energy) if np.isfinite(energy) else np.nan
        for structure, energy in zip(structures, energies)
    ])


@functools.cache
def _elemental_table() -> dict[str, float]:
    """{symbol: eV/atom} from the bundled JSON (values may be numbers or {"energy_per_atom": ...} records)."""
    try:
        text = resources.files("crystalkit.data").joinpath("bundled", ELEMENTAL_REFERENCE_FILE).read_text()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise DatasetNotAvailableError(
            f"The bundled {ELEMENTAL_REFERENCE_FILE} is missing from crystalkit/data/bundled/. Pass "
            "reference_entries explicitly as [(composition, energy_per_atom), ...]."
        ) from error
    records = json.loads(text)
    return {
        symbol: float(value["energy_per_atom"] if isinstance(value, dict) else value)
        for symbol, value in records.items()
    }


@functools.cache
def _default_reference_tuple() -> tuple[tuple[Composition, float], ...]:
    references = elemental_references()
    try:
        from crystalkit.data import load_dataset  # the bundled teaching sets
    except ImportError as error:
        raise DatasetNotAvailableError(
            "crystalkit.data.load_dataset is not available, so the bundled hull cannot be built. Pass "
            "reference_entries explicitly as [(composition, energy_per_atom), ...]."
        ) from error

    for name in ("perovskites", "inorganic", "carbon"):
        for split in ("train", "val", "test"):
            try:
                dataset = load_dataset(name, split)
            except FileNotFoundError as error:
                raise DatasetNotAvailableError(
                    f"The bundled teaching set {name}/{split} is missing ({error}), so the default hull cannot be "
                    "built. Pass reference_entries explicitly as [(composition, energy_per_atom), ...]."
                ) from error
            energies = dataset.labels["energy_per_atom"].to_numpy()
            references.extend(
                (structure.composition, float(e)) for structure, e in zip(dataset.structures, energies, strict=True)
            )
    return tuple(references)


def default_reference_entries() -> list[tuple[Composition, float]]:
    """The kit's default hull: CHGNet energies of the bundled teaching sets and of the elements.

    Loaded once and cached. All energies are CHGNet (FIRE, fmax 0.05 eV/Å)
    relaxed energies in eV/atom, so they are consistent with :func:`relax`.
    The teaching sets are small, so this hull is far sparser than the Materials
    Project one: a candidate can look stable here only because its competitors
    are missing.

    Raises:
        DatasetNotAvailableError: the bundled files are not installed.
    """
    return list(_default_reference_tuple())


def _candidate_energy(candidate) -> tuple[Composition, float, str, tuple[str, ...]]:
    """Composition, energy (eV/atom), a description of its source, and warning flags."""
    import math

    flags: tuple[str, ...] = ()
    if isinstance(candidate, RelaxResult):
        composition, energy = candidate.final_structure.composition, candidate.energy_per_atom
        source = "CHGNet relaxed energy"
        if not candidate.converged:
            flags = (
                (
                    f"relaxation not converged after {candidate.steps} steps: the relaxed energy, and so "
                    "e_above_hull, is probably lower"
                ),
            )
    elif isinstance(candidate, Structure):
        from crystalkit.validation.relax import predict_energies

        composition, energy = candidate.composition, float(predict_energies([candidate])[0])
        source = "CHGNet single-point energy of the structure as given"
        flags = ("unrelaxed structure: relax it first for a meaningful e_above_hull",)
    elif isinstance(candidate, Sequence) and len(candidate) == 2 and not isinstance(candidate, str):
        composition = _as_composition(candidate[0])
        energy, source = float(candidate[1]), "energy given by the caller"
    else:
        raise CrystalInputError(
            f"Cannot read a candidate from {type(candidate).__name__}: pass a Structure, a RelaxResult "
            "or a (composition, energy_per_atom) pair."
        )
    if not math.isfinite(energy):
        raise CrystalInputError(f"The candidate's energy is {energy}: a hull needs a finite energy per atom.")
    return composition, energy, source, flags


def _as_composition(value) -> Composition:
    try:
        return value if isinstance(value, Composition) else Composition(value)
    except Exception as error:
        raise CrystalInputError(f"Cannot read the composition {value!r}: {error}") from error


def _as_pd_entry(item, index: int):
    """A pymatgen PDEntry (total energy) from a (composition, eV/atom) pair or an existing entry."""
    import math

    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.entries import Entry

    if isinstance(item, Entry):
        return item
    if isinstance(item, str) or not (isinstance(item, Iterable) and len(item) == 2):
        raise CrystalInputError(
            f"Reference entry {index} is {item!r}: expected a (composition, energy_per_atom) pair."
        )
    composition, energy = _as_composition(item[0]), float(item[1])
    if not math.isfinite(energy):
        raise CrystalInputError(f"Reference entry {index} ({composition.reduced_formula}) has energy {energy}.")
    return PDEntry(composition, energy * composition.num_atoms, name=composition.reduced_formula)
