"""The bundled teaching sets: present, consistent with their labels, and loaded safely."""

import numpy as np
import pytest

from crystalkit.data import BUNDLED_DATASETS, load_dataset
from crystalkit.data.statistics import describe_splits, element_frequency, structure_table
from crystalkit.errors import CrystalInputError

SPLITS = ("train", "val", "test")


@pytest.mark.parametrize("name", BUNDLED_DATASETS)
def test_bundled_set_is_consistent(name):
    splits = {split: load_dataset(name, split) for split in SPLITS}
    sizes = {split: len(data) for split, data in splits.items()}
    assert all(size > 0 for size in sizes.values()), sizes
    total = sum(sizes.values())
    assert sizes["train"] == pytest.approx(0.8 * total, abs=2)  # the 80/10/10 split
    ids = [i for data in splits.values() for i in data.labels["material_id"]]
    assert len(ids) == len(set(ids)), "material ids repeat across splits"
    for data in splits.values():
        labels = data.labels
        assert {"energy_per_atom", "formation_energy_per_atom", "e_above_hull", "spacegroup_number"} <= set(labels)
        assert (labels["e_above_hull"] >= 0).all() and (labels["e_above_hull"] <= 1.0).all()
        assert np.isfinite(labels["formation_energy_per_atom"]).all()
        assert labels["num_atoms"].tolist() == [len(s) for s in data.structures]
        assert labels["formula"].tolist() == [s.composition.reduced_formula for s in data.structures]


def test_subsets_have_their_kind_of_crystal():
    perovskites = load_dataset("perovskites", "val").structures
    assert all(len(s) == 5 for s in perovskites)
    carbon = load_dataset("carbon", "val").structures
    assert all(s.composition.reduced_formula == "C" and 6 <= len(s) <= 24 for s in carbon)
    inorganic = load_dataset("inorganic", "val").structures
    assert all(1 <= len(s) <= 20 for s in inorganic)


def test_loading_returns_independent_copies():
    first = load_dataset("perovskites", "test")
    first.structures[0].replace_species({first.structures[0][0].specie: "Xe"})
    first.labels.loc[0, "energy_per_atom"] = 123.0
    second = load_dataset("perovskites", "test")
    assert "Xe" not in second.structures[0].composition
    assert second.labels.loc[0, "energy_per_atom"] != 123.0


def test_to_batch_round_trip():
    data = load_dataset("carbon", "test")
    back = data.to_batch().to_structures()
    assert all(np.allclose(a.frac_coords, b.frac_coords) for a, b in zip(data.structures, back))


def test_statistics_agree_with_labels():
    data = load_dataset("inorganic", "val")
    table = structure_table(data.structures)
    assert table["num_atoms"].tolist() == data.labels["num_atoms"].tolist()
    # Same symprec as the build: the space groups agree.
    assert table["spacegroup_number"].tolist() == data.labels["spacegroup_number"].tolist()
    frequency = element_frequency(data.structures)
    assert frequency.max() <= len(data) and frequency.is_monotonic_decreasing
    sizes = describe_splits({"val": data.structures})
    assert sizes.loc["val", "structures"] == len(data)
    with pytest.raises(CrystalInputError):
        structure_table([])
