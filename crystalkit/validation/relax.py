"""Relaxing a crystal with a universal machine-learned potential (CHGNet).

A generative model proposes atom positions and a cell; nothing guarantees that
the atoms sit where the forces on them vanish. The first check any candidate
gets is therefore a *relaxation*: move atoms and cell downhill in energy until
the forces are small. How far the structure moves (RMSD, volume change) and
how far the energy drops tell you how close to a real minimum the generator
landed.

We use CHGNet (Deng et al., Nature Machine Intelligence 5, 1031 (2023)), a graph
network trained on the Materials Project relaxation trajectories. It predicts
energies (eV/atom), forces (eV/Å) and stresses for any element from H (Z = 1)
to Pu (Z = 94); its weights ship inside the ``chgnet`` package, so no download
is needed. Its energies are compatible with Materials Project GGA/GGA+U ones,
which is why the kit's hulls are built from CHGNet energies too.

The relaxation loop itself is plain ASE: the FIRE optimiser (Bitzek et al.,
PRL 97, 170201 (2006)) moves the atoms and, through a Fréchet cell filter, the
lattice, until the largest force is below ``fmax``. The same settings (FIRE,
fmax 0.05 eV/Å, at most 300 steps) labelled the kit's bundled datasets.

Failures are never silent:

* elements CHGNet does not cover, disordered sites or overlapping atoms raise
  :class:`~crystalkit.errors.CrystalInputError` *before* any computation;
* a relaxation that hits the step limit returns ``converged=False`` and emits a
  :class:`RelaxationWarning`; pass ``strict=True`` to get a
  :class:`RelaxationNotConvergedError` instead;
* an atom with no neighbour within CHGNet's 6 Å graph cut-off (an "isolated
  atom": the model's energy for it is meaningless) raises as bad input.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.structures import check_structure

__all__ = [
    "RelaxResult",
    "RelaxationWarning",
    "RelaxationNotConvergedError",
    "relax",
    "predict_energies",
    "load_chgnet",
    "check_chgnet_input",
    "CHGNET_MAX_Z",
    "CHGNET_CUTOFF",
    "SPARSE_ELEMENTS",
    "SparseElementWarning",
]

#: Heaviest element (atomic number) in CHGNet's training data and embedding table: Pu.
CHGNET_MAX_Z = 94
#: Radius (Å) of CHGNet's atom graph: an atom with no neighbour inside it is "isolated".
CHGNET_CUTOFF = 6.0
#: Elements up to Pu that are (nearly) absent from the Materials Project data CHGNet learned from:
#: it returns numbers for them, but they are extrapolations, so the kit warns.
SPARSE_ELEMENTS = frozenset({"Po", "At", "Rn", "Fr", "Ra"})


class SparseElementWarning(UserWarning):
    """A structure contains elements CHGNet has (almost) no training data for."""


class RelaxationWarning(UserWarning):
    """A relaxation stopped at its step limit before the forces fell below ``fmax``."""


class RelaxationNotConvergedError(RuntimeError):
    """Raised by ``relax(..., strict=True)`` when the step limit is reached.

    Attributes:
        result: the :class:`RelaxResult` reached so far, so the work is not lost.
    """

    def __init__(self, message: str, result: RelaxResult):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class RelaxResult:
    """What a relaxation did to one structure.

    Attributes:
        initial_structure: the structure as given.
        final_structure: the relaxed structure (same site order as the input).
        energy_per_atom: CHGNet energy of ``final_structure`` in eV/atom.
        initial_energy_per_atom: CHGNet energy of ``initial_structure`` in eV/atom.
        converged: True if the largest force fell below ``fmax`` within the step limit.
        steps: optimiser steps taken.
        max_force: largest residual force on an atom or cell degree of freedom at the end, eV/Å.
        rmsd: root-mean-square displacement of the atoms in Å, measured in the final
            cell after removing a rigid translation (cell strain is reported separately).
        volume_change: relative change of the cell volume, (V_final - V_initial) / V_initial.
        trajectory_energies: eV/atom at every step, first value = initial energy.
        trajectory: the structure at every step (for a trajectory player).
        fmax: the force threshold (eV/Å) the run aimed for.
    """

    initial_structure: Structure
    final_structure: Structure
    energy_per_atom: float
    initial_energy_per_atom: float
    converged: bool
    steps: int
    max_force: float
    rmsd: float
    volume_change: float
    trajectory_energies: list[float] = field(repr=False)
    trajectory: list[Structure] = field(repr=False)
    fmax: float = 0.05

    @property
    def energy_drop(self) -> float:
        """How much the relaxation lowered the energy, in eV/atom (>= 0 for a sane run)."""
        return self.initial_energy_per_atom - self.energy_per_atom

    def summary(self) -> str:
        """One line a learner can read: formula, energies, convergence."""
        status = "converged" if self.converged else f"NOT converged (max force {self.max_force:.3f} > {self.fmax} eV/Å)"
        return (
            f"{self.final_structure.composition.reduced_formula}: {self.initial_energy_per_atom:.4f} -> "
            f"{self.energy_per_atom:.4f} eV/atom in {self.steps} steps, {status}; "
            f"RMSD {self.rmsd:.3f} Å, volume {100 * self.volume_change:+.1f}%"
        )


@functools.cache
def load_chgnet():
    """The pretrained CHGNet model, loaded once per process and then reused.

    Loading takes a few seconds (the weights ship inside the ``chgnet`` package,
    no network needed); every later call returns the same object. The cache
    lives inside this function, so importing the kit does not load anything.
    The model starts on the CPU; :func:`relax` and :func:`predict_energies`
    move it to the device they are asked to use.
    """
    from chgnet.model import CHGNet

    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
        model = CHGNet.load(use_device="cpu", verbose=False)
    model.eval()
    return model


def check_chgnet_input(structure: Structure) -> Structure:
    """Raise :class:`CrystalInputError` unless CHGNet can give a meaningful energy.

    On top of :func:`crystalkit.structures.check_structure` (real elements, no
    overlaps, ordered sites) this checks that every element has Z <= 94 and that
    every atom has a neighbour within the 6 Å graph cut-off, and warns
    (:class:`SparseElementWarning`) about elements with hardly any training data.
    """
    check_structure(structure, require_ordered=True)
    exotic = sorted({site.specie.symbol for site in structure if site.specie.Z > CHGNET_MAX_Z})
    if exotic:
        raise CrystalInputError(
            f"CHGNet covers elements up to Pu (Z = {CHGNET_MAX_Z}); this structure contains {', '.join(exotic)}. "
            "Substitute a chemically similar lighter element or use another potential."
        )
    sparse = sorted({site.specie.symbol for site in structure} & SPARSE_ELEMENTS)
    if sparse:
        warnings.warn(
            f"{', '.join(sparse)}: (nearly) absent from CHGNet's training data; treat its energies and forces "
            "for this structure as unreliable.",
            SparseElementWarning,
            stacklevel=3,
        )
    centres, _, _, _ = structure.get_neighbor_list(CHGNET_CUTOFF)
    lonely = sorted(set(range(len(structure))) - set(np.unique(centres).tolist()))
    if lonely:
        raise CrystalInputError(
            f"Sites {lonely} have no neighbour within CHGNet's {CHGNET_CUTOFF} Å cut-off (isolated atoms): "
            "the model's energy would be meaningless. The cell is probably far too large or empty; "
            "rescale the lattice before relaxing."
        )
    return structure


def relax(
    structure: Structure,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    strict: bool = False,
    progress: bool = True,
    model=None,
    device: str = "cpu",
) -> RelaxResult:
    """Relax atoms (and cell) with CHGNet and FIRE until the largest force is below ``fmax``.

    Args:
        structure: an ordered crystal with elements up to Pu.
        fmax: force threshold in eV/Å; 0.05 is the usual "relaxed" criterion.
        steps: most optimiser steps before giving up. Small cells near a minimum
            need 10-50; random structures can need hundreds.
        relax_cell: also relax the lattice (through ASE's FrechetCellFilter).
        strict: raise :class:`RelaxationNotConvergedError` instead of returning a
            result flagged ``converged=False`` (and warning).
        progress: show a progress bar with the current energy and force.
        model: a CHGNet model; the cached pretrained one by default.
        device: torch device for CHGNet ("cpu", "cuda"); the model is moved there. For
            one small cell at a time the CPU is usually faster than a GPU.

    Returns:
        A :class:`RelaxResult`. Check ``result.converged`` before trusting the energy.

    Speed: about 0.1 s per step for a 5-atom cell on one CPU core. For small
    cells call ``torch.set_num_threads(1)``: extra threads do not help, and on
    a busy machine they made each step twenty times slower in our tests.

    Raises:
        CrystalInputError: the structure is disordered, has overlapping or isolated
            atoms, or contains elements beyond Pu; or ``fmax``/``steps`` are not positive.
        RelaxationNotConvergedError: only with ``strict=True``.
    """
    from chgnet.model.dynamics import CHGNetCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    if fmax <= 0 or steps < 1:
        raise CrystalInputError(f"Need fmax > 0 eV/Å and steps >= 1, got fmax={fmax}, steps={steps}.")
    check_chgnet_input(structure)
    model = model if model is not None else load_chgnet()
    with contextlib.redirect_stdout(io.StringIO()):  # the calculator announces its device
        calculator = CHGNetCalculator(model, use_device=device)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator

    run = _run_fire(atoms, fmax=fmax, steps=steps, relax_cell=relax_cell, progress=progress)

    final = AseAtomsAdaptor.get_structure(atoms)
    for name in list(final.site_properties):
        final.remove_site_property(name)
    result = RelaxResult(
        initial_structure=structure,
        final_structure=final,
        energy_per_atom=run.energies[-1],
        initial_energy_per_atom=run.energies[0],
        converged=run.converged,
        steps=run.steps,
        max_force=run.max_force,
        rmsd=_rmsd(structure, final),
        volume_change=final.volume / structure.volume - 1.0,
        trajectory_energies=run.energies,
        trajectory=run.frames,
        fmax=fmax,
    )
    if not run.converged:
        message = (
            f"Relaxation of {structure.composition.reduced_formula} did not converge in {steps} steps "
            f"(largest force {run.max_force:.3f} eV/Å > fmax {fmax} eV/Å): its energy is not a minimum. "
            "Raise `steps`, or treat the structure as unstable."
        )
        if strict:
            raise RelaxationNotConvergedError(message, result)
        warnings.warn(message, RelaxationWarning, stacklevel=2)
    return result


class _FireRun(NamedTuple):
    """What the optimiser did: the loop's outcome and a record of every step."""

    converged: bool  # the largest force fell below fmax within the step limit
    steps: int  # optimiser steps taken
    max_force: float  # largest residual force (atoms and cell) at the end, eV/Å
    energies: list[float]  # eV/atom before the first step and after each step
    frames: list[Structure]  # the structure at the same moments


def _run_fire(atoms, *, fmax: float, steps: int, relax_cell: bool, progress: bool) -> _FireRun:
    """Move ``atoms`` (which carry their calculator) downhill with FIRE until the largest force is below ``fmax``.

    With ``relax_cell`` the optimiser sees ASE's Fréchet cell filter, which adds
    the cell's nine degrees of freedom (driven by the stress) to the atoms'
    positions. ``atoms`` is moved in place.
    """
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor
    from tqdm.auto import tqdm

    movable = FrechetCellFilter(atoms) if relax_cell else atoms
    optimizer = FIRE(movable, logfile=None)

    energies: list[float] = []
    frames: list[Structure] = []
    bar = tqdm(total=steps, desc="relax", disable=not progress, leave=False)

    def record() -> None:  # called by ASE after every step (and once before the first)
        energies.append(float(atoms.get_potential_energy()) / len(atoms))
        frames.append(AseAtomsAdaptor.get_structure(atoms))
        force = float(np.sqrt((atoms.get_forces() ** 2).sum(axis=1).max()))  # atoms only: cheap, cached
        if len(energies) > 1:
            bar.update(1)
        bar.set_postfix(energy=f"{energies[-1]:.4f} eV/atom", fmax=f"{force:.3f} eV/Å")

    optimizer.attach(record, interval=1)
    with warnings.catch_warnings(), _single_threaded_blas():
        warnings.simplefilter("ignore", UserWarning)  # torch's tensor-copy notice from inside CHGNet
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
        max_force = float(np.sqrt((movable.get_forces() ** 2).sum(axis=1).max()))
    bar.close()
    return _FireRun(converged, int(optimizer.nsteps), max_force, energies, frames)


def predict_energies(
    structures: Sequence[Structure],
    *,
    batch_size: int = 16,
    on_invalid: Literal["raise", "nan"] = "raise",
    progress: bool = False,
    model=None,
    device: str = "cpu",
) -> np.ndarray:
    """CHGNet single-point energies in eV/atom, computed in batches (no relaxation).

    This is the cheap screen before relaxing: an unrelaxed energy is an upper
    bound on the relaxed one, so candidates already far above the others can be
    dropped first.

    Args:
        structures: the crystals to score.
        batch_size: structures per CHGNet forward pass.
        on_invalid: what to do with a structure CHGNet cannot score (see
            :func:`check_chgnet_input`): "raise" (default) or "nan", which puts
            ``nan`` in its slot and warns with the indices.
        progress: show a progress bar over batches.
        model: a CHGNet model; the cached pretrained one by default.
        device: torch device to run on ("cpu", "cuda"); the model is moved there.

    Returns:
        Array of shape ``(len(structures),)`` in eV/atom.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise CrystalInputError(f"batch_size must be >= 1, got {batch_size}.")
    if on_invalid not in ("raise", "nan"):
        raise CrystalInputError(f"on_invalid must be 'raise' or 'nan', got {on_invalid!r}.")
    energies = np.full(len(structures), np.nan)
    good, bad = [], []
    for index, structure in enumerate(structures):
        try:
            check_chgnet_input(structure)
            good.append(index)
        except CrystalInputError as error:
            if on_invalid == "raise":
                raise CrystalInputError(f"Structure {index}: {error}") from error
            bad.append(index)
    if bad:
        warnings.warn(
            f"{len(bad)} structure(s) cannot be scored by CHGNet and get nan: indices {bad[:20]}"
            f"{' ...' if len(bad) > 20 else ''}. Call check_chgnet_input on one to see why.",
            stacklevel=2,
        )
    model = (model if model is not None else load_chgnet()).to(device)
    for start in tqdm(range(0, len(good), batch_size), desc="CHGNet energies", disable=not progress, leave=False):
        chunk = good[start : start + batch_size]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            predictions = model.predict_structure(
                [structures[i] for i in chunk], task="e", batch_size=batch_size
            )
        if isinstance(predictions, dict):  # a single structure comes back unwrapped
            predictions = [predictions]
        for i, prediction in zip(chunk, predictions, strict=True):
            energies[i] = float(prediction["e"])
    return energies


def _single_threaded_blas():
    """Context in which BLAS/LAPACK (numpy, scipy) use one thread.

    The cell filter does many 3x3 matrix exponentials per step. On a busy
    machine a multi-threaded OpenBLAS spends far longer synchronising its
    threads than computing such tiny products (we measured 30x slower per
    call with 2 threads under load), so the relaxation runs them on one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, run as is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _rmsd(initial: Structure, final: Structure) -> float:
    """RMS atomic displacement in Å between two versions of the same crystal (same site order).

    Displacements are taken as minimum-image fractional differences, expressed
    in the final cell, with the mean (a rigid translation, which costs no
    energy) subtracted.
    """
    delta = final.frac_coords - initial.frac_coords  # (N, 3)
    delta -= np.round(delta)
    cartesian = delta @ final.lattice.matrix  # (N, 3) Å
    cartesian -= cartesian.mean(axis=0)
    return float(np.sqrt((cartesian**2).sum(axis=1).mean()))
