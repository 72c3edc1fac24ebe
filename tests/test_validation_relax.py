"""CHGNet relaxation: it lowers the energy, converges near a minimum, and flags what it cannot do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation import (
    RelaxationNotConvergedError,
    RelaxationWarning,
    check_chgnet_input,
    load_chgnet,
    predict_energies,
    relax,
)


@pytest.fixture(scope="module")
def model():
    """Load CHGNet once for the whole module (a few seconds)."""
    import torch

    torch.set_num_threads(1)
    return load_chgnet()


@pytest.fixture
def rattled_srtio3(srtio3) -> Structure:
    """SrTiO3 with every atom moved by about 0.03 Å: a few FIRE steps from its minimum."""
    rng = np.random.default_rng(0)
    return Structure(srtio3.lattice, srtio3.species, srtio3.frac_coords + rng.normal(0, 0.008, (5, 3)))


def test_model_is_cached(model):
    assert load_chgnet() is model


@pytest.mark.slow
def test_relaxation_lowers_energy_and_converges(model, rattled_srtio3):
    result = relax(rattled_srtio3, fmax=0.05, steps=100, progress=False, model=model)
    assert result.converged
    assert 0 < result.steps < 100
    assert result.max_force < 0.05
    assert result.energy_per_atom < result.initial_energy_per_atom
    assert result.trajectory_energies[0] == pytest.approx(result.initial_energy_per_atom)
    assert result.trajectory_energies[-1] == pytest.approx(result.energy_per_atom)
    assert len(result.trajectory) == len(result.trajectory_energies)
    assert 0 < result.rmsd < 0.2  # the rattle is undone, not a different crystal
    assert result.final_structure.composition == rattled_srtio3.composition
    # the batched single-point energy of the relaxed cell is the relaxation's last energy
    assert predict_energies([result.final_structure], model=model)[0] == pytest.approx(result.energy_per_atom, abs=1e-4)


def test_step_limit_is_flagged_not_hidden(model, rattled_srtio3):
    with pytest.warns(RelaxationWarning, match="did not converge"):
        result = relax(rattled_srtio3, steps=1, progress=False, model=model)
    assert not result.converged and result.steps == 1
    assert "NOT converged" in result.summary()
    with pytest.raises(RelaxationNotConvergedError) as caught:
        relax(rattled_srtio3, steps=1, strict=True, progress=False, model=model)
    assert caught.value.result.steps == 1


def test_elements_beyond_plutonium_are_refused_before_running():
    americium = Structure(Lattice.cubic(3.5), ["Am", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(CrystalInputError, match="Pu"):
        check_chgnet_input(americium)
    with pytest.raises(CrystalInputError, match="Am"):
        relax(americium, progress=False)


def test_elements_without_training_data_are_flagged():
    from crystalkit.validation.relax import SparseElementWarning

    polonium = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])
    with pytest.warns(SparseElementWarning, match="Po"):
        check_chgnet_input(polonium)


def test_disordered_and_isolated_structures_are_refused(srtio3):
    disordered = srtio3.copy()
    disordered.replace(0, {"Sr": 0.5, "Ba": 0.5})
    with pytest.raises(CrystalInputError, match="disordered"):
        relax(disordered, progress=False)
    lonely = Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(CrystalInputError, match="isolated"):
        predict_energies([lonely])


def test_predict_energies_marks_bad_structures_with_nan_when_asked(model, srtio3):
    lonely = Structure(Lattice.cubic(14.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.warns(UserWarning, match="indices \\[1\\]"):
        energies = predict_energies([srtio3, lonely, srtio3], batch_size=2, on_invalid="nan", model=model)
    assert np.isnan(energies[1]) and np.isfinite(energies[[0, 2]]).all()
    assert energies[0] == pytest.approx(energies[2])


def test_bad_settings_raise(srtio3):
    with pytest.raises(CrystalInputError):
        relax(srtio3, fmax=0.0, progress=False)
    with pytest.raises(CrystalInputError):
        predict_energies([srtio3], batch_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CrystalInputError):
            predict_energies([srtio3], on_invalid="skip")
