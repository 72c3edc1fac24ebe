import numpy as np
import pytest
import torch

from crystalkit.data import CrystalBatch, collate
from crystalkit.errors import CrystalInputError


def test_exact_round_trip(srtio3, triclinic):
    batch = CrystalBatch.from_structures([srtio3, triclinic])
    back = batch.to_structures()
    for original, restored in zip([srtio3, triclinic], back):
        assert np.array_equal(original.lattice.matrix, restored.lattice.matrix)
        assert np.array_equal(original.frac_coords, restored.frac_coords)
        assert [s.specie for s in original] == [s.specie for s in restored]


def test_shapes_and_derived_fields(srtio3, triclinic):
    batch = CrystalBatch.from_structures([srtio3, triclinic, srtio3])
    assert batch.atomic_numbers.shape == (13,)
    assert batch.frac_coords.shape == (13, 3)
    assert batch.lattice.shape == (3, 3, 3)
    assert batch.num_atoms.tolist() == [5, 3, 5]
    assert batch.batch_index.tolist() == [0] * 5 + [1] * 3 + [2] * 5
    torch.testing.assert_close(batch.lengths[1], torch.tensor(triclinic.lattice.abc, dtype=torch.float64))
    torch.testing.assert_close(batch.angles[1], torch.tensor(triclinic.lattice.angles, dtype=torch.float64))


def test_indexing_and_collate_are_inverse(srtio3, triclinic):
    batch = CrystalBatch.from_structures([srtio3, triclinic, srtio3])
    rebuilt = collate([batch[i] for i in range(len(batch))])
    for name in ("atomic_numbers", "frac_coords", "lattice", "num_atoms"):
        assert torch.equal(getattr(rebuilt, name), getattr(batch, name))
    assert batch[-1].to_structures()[0] == srtio3
    with pytest.raises(IndexError):
        batch[3]


def test_to_changes_dtype_not_integers(srtio3):
    batch = CrystalBatch.from_structures([srtio3]).to(dtype=torch.float32)
    assert batch.frac_coords.dtype == torch.float32 and batch.atomic_numbers.dtype == torch.int64


def test_frozen(srtio3):
    batch = CrystalBatch.from_structures([srtio3])
    with pytest.raises(AttributeError):
        batch.frac_coords = batch.frac_coords * 0
    moved = batch.replace(frac_coords=batch.frac_coords * 0)
    assert moved.frac_coords.abs().sum() == 0 and batch.frac_coords.abs().sum() > 0


@pytest.mark.parametrize(
    "change",
    [
        dict(frac_coords=torch.zeros(5, 2)),
        dict(lattice=torch.zeros(3, 3)),
        dict(num_atoms=torch.tensor([4])),
        dict(atomic_numbers=torch.zeros(5, 1, dtype=torch.int64)),
        dict(atomic_numbers=torch.zeros(5)),
    ],
)
def test_wrong_shapes_raise_clear_errors(srtio3, change):
    batch = CrystalBatch.from_structures([srtio3])
    with pytest.raises(CrystalInputError, match="CrystalBatch"):
        batch.replace(**change)


def test_bad_inputs(srtio3):
    with pytest.raises(CrystalInputError, match="empty"):
        CrystalBatch.from_structures([])
    overlapping = srtio3.copy()
    overlapping.append("O", [0.0, 0.0, 0.01])
    with pytest.raises(CrystalInputError, match="Structure 1"):
        CrystalBatch.from_structures([srtio3, overlapping])
