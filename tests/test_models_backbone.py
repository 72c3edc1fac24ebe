"""The periodic backbone: invariances by construction, checked numerically (float64)."""

from __future__ import annotations

import pytest
import torch
from models_helpers import (
    TINY,
    assert_close,
    permute,
    random_crystals,
    random_rotation,
    rotate,
    tiny_backbone,
    translate,
)

from crystalkit.models import Diffusion, DiffusionConfig, FlowMatching, PeriodicBackbone
from crystalkit.models.backbone import BackboneFeatures, cube_root_atom_count, element_descriptors

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net() -> PeriodicBackbone:
    return tiny_backbone().double().eval()


def features(net, crystals, time=0.3):
    t = torch.full((crystals.num_crystals,), time, dtype=torch.float64)
    with torch.no_grad():
        out = net(crystals.types, crystals.frac, crystals.lattice, crystals.mask, t)
    return out.atoms, out.crystal


def test_rotation_leaves_features_unchanged(net):
    crystals = random_crystals()
    atoms, crystal = features(net, crystals)
    rotated_atoms, rotated_crystal = features(net, rotate(crystals, random_rotation(1)))
    assert_close(rotated_atoms, atoms, "atom features after rotation")
    assert_close(rotated_crystal, crystal, "crystal features after rotation")


def test_reflection_leaves_features_unchanged(net):
    crystals = random_crystals()
    atoms, _ = features(net, crystals)
    mirrored, _ = features(net, rotate(crystals, torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64))))
    assert_close(mirrored, atoms, "atom features after a mirror")


def test_periodic_translation_leaves_features_unchanged(net):
    crystals = random_crystals()
    atoms, crystal = features(net, crystals)
    shifted_atoms, shifted_crystal = features(net, translate(crystals, torch.tensor([0.37, -0.81, 2.25],
                                                                                    dtype=torch.float64)))
    assert_close(shifted_atoms, atoms, "atom features after translation")
    assert_close(shifted_crystal, crystal, "crystal features after translation")


def test_permutation_permutes_atom_features(net):
    crystals = random_crystals()
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    atoms, crystal = features(net, crystals)
    permuted_atoms, permuted_crystal = features(net, permute(crystals, order))
    assert_close(permuted_atoms, atoms[:, order], "atom features after permutation")
    assert_close(permuted_crystal, crystal, "crystal features after permutation")


def test_pair_features_are_invariant_and_permute_in_pairs(net):
    crystals = random_crystals()
    t = torch.full((crystals.num_crystals,), 0.7, dtype=torch.float64)

    def pairs(c):
        with torch.no_grad():
            return net(c.types, c.frac, c.lattice, c.mask, t).pairs

    reference = pairs(crystals)
    order = torch.tensor([2, 5, 0, 1, 3, 4])
    assert reference.shape == (3, 6, 6, TINY.hidden_dim)
    assert_close(pairs(rotate(crystals, random_rotation(3))), reference, "pair features after rotation")
    assert_close(pairs(translate(crystals, torch.tensor([0.5, 0.25, -0.75], dtype=torch.float64))), reference,
                 "pair features after translation")
    assert_close(pairs(permute(crystals, order)), reference[:, order][:, :, order], "pair features after permutation")


def test_padding_does_not_change_real_atoms(net):
    crystals = random_crystals(num_crystals=2, num_atoms=4)
    atoms, crystal = features(net, crystals)
    padded = crystals.replace(
        types=torch.cat([crystals.types, torch.zeros(2, 3, dtype=torch.int64)], 1),
        frac=torch.cat([crystals.frac, torch.rand(2, 3, 3, dtype=torch.float64)], 1),
        mask=torch.cat([crystals.mask, torch.zeros(2, 3, dtype=torch.bool)], 1),
    )
    padded_atoms, padded_crystal = features(net, padded)
    assert_close(padded_atoms[:, :4], atoms, "real atoms next to padding")
    assert_close(padded_crystal, crystal, "crystal features next to padding")
    assert float(padded_atoms[:, 4:].abs().max()) == 0.0


def test_features_see_geometry_and_chemistry(net):
    """Invariance is easy if the output ignores its input; it must not."""
    crystals = random_crystals()
    atoms, _ = features(net, crystals)
    moved = crystals.replace(frac=crystals.frac.clone())
    moved.frac[0, 0] += 0.1
    assert float((features(net, moved)[0] - atoms).abs().max()) > 1e-6
    assert float((features(net, crystals.replace(types=crystals.types % 50 + 1))[0] - atoms).abs().max()) > 1e-6
    assert float((features(net, crystals.replace(lattice=crystals.lattice * 1.1))[0] - atoms).abs().max()) > 1e-6


def test_one_hot_types_equal_atomic_numbers(net):
    crystals = random_crystals()
    one_hot = torch.nn.functional.one_hot(crystals.types - 1, TINY.num_elements).double()
    t = torch.full((crystals.num_crystals,), 0.5, dtype=torch.float64)
    with torch.no_grad():
        from_numbers = net(crystals.types, crystals.frac, crystals.lattice, crystals.mask, t).atoms
        from_one_hot = net(one_hot, crystals.frac, crystals.lattice, crystals.mask, t).atoms
    assert_close(from_one_hot, from_numbers, "one-hot vs atomic-number input")


@pytest.mark.parametrize("family", ["diffusion", "flow"])
def test_model_outputs_transform_correctly(family):
    """Coordinate outputs: invariant in fractional units (so they rotate with the crystal in Cartesian
    units), permuted with the atoms; diffusion's lattice output rotates with the lattice."""
    net = tiny_backbone(seed=2)
    model = Diffusion(net) if family == "diffusion" else FlowMatching(net)
    for parameter in model.parameters():  # the heads start at zero; give them something to say
        torch.nn.init.normal_(parameter, std=0.3)
    model = model.double().eval()
    crystals = random_crystals()
    t = torch.full((crystals.num_crystals,), 0.4, dtype=torch.float64)
    rotation = random_rotation(5)
    with torch.no_grad():
        out = model.predict(crystals.types, crystals, t)
        turned = model.predict(crystals.types, rotate(crystals, rotation), t)
        shifted = model.predict(crystals.types, translate(crystals, torch.tensor([0.2, 0.7, -0.4],
                                                                                dtype=torch.float64)), t)
        order = torch.tensor([5, 4, 3, 2, 1, 0])
        permuted = model.predict(crystals.types[:, order], permute(crystals, order), t)
    # The per-atom vector is a score (diffusion) or a velocity (flow); the lattice output is noise on the
    # lattice matrix (diffusion, rotates) or a velocity of lattice parameters (flow, invariant).
    coords, lattice = ("coord_score", "lattice_noise") if family == "diffusion" else ("coord_velocity",
                                                                                     "lattice_velocity")
    assert float(getattr(out, coords).abs().max()) > 1e-3
    cartesian = getattr(out, coords) @ crystals.lattice
    assert_close(getattr(turned, coords) @ (crystals.lattice @ rotation.T), cartesian @ rotation.T,
                 "Cartesian coordinate output after rotation")
    assert_close(getattr(shifted, coords), getattr(out, coords), "coordinate output after translation")
    assert_close(getattr(permuted, coords), getattr(out, coords)[:, order], "coordinate output after permutation")
    if family == "diffusion":
        assert_close(turned.lattice_noise, out.lattice_noise @ rotation.T, "lattice output after rotation")
    else:
        assert_close(turned.lattice_velocity, out.lattice_velocity, "lattice-parameter output after rotation")
    assert_close(getattr(permuted, lattice), getattr(out, lattice), "lattice output after permutation")


def test_de_novo_type_output_is_invariant():
    model = Diffusion(tiny_backbone(seed=3), DiffusionConfig(task="de_novo"))
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    model = model.double().eval()
    crystals = random_crystals()
    soft = torch.softmax(torch.randn(3, 6, TINY.num_elements, dtype=torch.float64), -1)
    t = torch.full((3,), 0.4, dtype=torch.float64)
    with torch.no_grad():
        out = model.predict(soft, crystals, t).type_noise
        turned = model.predict(soft, rotate(crystals, random_rotation(7)), t).type_noise
    assert_close(turned, out, "type output after rotation")


def test_element_descriptors_are_standardised_and_finite():
    table = element_descriptors(100)
    assert table.shape == (100, 12)
    assert torch.isfinite(table).all()
    assert float(table.mean(0).abs().max()) < 0.2  # missing values became 0, the rest is centred
    # Chemistry is visible: O and S (same group) are closer than O and Fe.
    oxygen, sulphur, iron = table[7], table[15], table[25]
    assert (oxygen - sulphur).norm() < (oxygen - iron).norm()


# ------------------------------------------------------------- the seams
def test_backbone_features_are_named_and_shaped(net):
    crystals = random_crystals(num_crystals=2, num_atoms=5)
    with torch.no_grad():
        out = net(crystals.types, crystals.frac, crystals.lattice, crystals.mask, torch.full((2,), 0.5,
                                                                                           dtype=torch.float64))
    assert isinstance(out, BackboneFeatures)
    hidden = TINY.hidden_dim
    assert (out.atoms.shape, out.crystal.shape, out.pairs.shape) == ((2, 5, hidden), (2, hidden), (2, 5, 5, hidden))
    assert_close(out.crystal, out.atoms.mean(dim=1), "crystal features are the mean over the atoms")


def test_cube_root_atom_count_matches_a_direct_computation():
    counts = torch.tensor([0, 1, 5, 8, 27, 52])
    direct = torch.tensor([1.0, 1.0, 5 ** (1 / 3), 2.0, 3.0, 52 ** (1 / 3)], dtype=torch.float64)
    assert_close(cube_root_atom_count(counts, torch.float64), direct, "N^(1/3), an empty cell counted as one atom")
    single = cube_root_atom_count(counts)
    assert single.dtype == torch.float32
    assert_close(single.double(), direct, "N^(1/3) in float32", tolerance=1e-6)


def test_every_family_scales_lattices_by_the_same_cube_root(net):
    """Diffusion's scaled lattice, the flow's log lengths and the backbone's features all use N^(1/3)."""
    crystals = random_crystals(num_crystals=2, num_atoms=6, dtype=torch.float32)
    crystals = crystals.replace(mask=torch.tensor([[True] * 6, [True] * 3 + [False] * 3]))
    root = crystals.mask.sum(dim=1).double() ** (1 / 3)  # (B,) written out here, not through the helper
    diffusion = Diffusion(tiny_backbone())
    scaled = diffusion.scaled_lattice(crystals.lattice, crystals.mask)
    assert_close(scaled.double(), crystals.lattice.double() / root[:, None, None], "diffusion's L / N^(1/3)",
                 tolerance=1e-6)
    assert_close(diffusion.lattice_in_angstrom(scaled, crystals.mask), crystals.lattice, "and back", tolerance=1e-6)
    flow = FlowMatching(tiny_backbone())
    lengths = crystals.lattice.double().norm(dim=-1)  # (B, 3) Å
    expected = (torch.log(lengths / root[:, None]) - float(flow.log_length_mean)) / float(flow.log_length_std)
    assert_close(flow.lattice_to_flow(crystals.lattice, crystals.mask)[:, :3].double(), expected,
                 "flow's standardised log(length / N^(1/3))", tolerance=1e-5)
    features = PeriodicBackbone.lattice_features(crystals.lattice.double(), crystals.mask.sum(dim=1))
    assert_close(features[:, :3], torch.log(lengths / root[:, None]), "backbone's log(length / N^(1/3))")
