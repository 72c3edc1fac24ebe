"""``as_compositions``: the one gate every generator's compositions pass through, and its error messages."""

from __future__ import annotations

import pytest
import torch
from pymatgen.core import Composition, DummySpecies, Element, Species

from crystalkit.baselines import PrototypeSubstitutionBaseline, RandomSymmetricBaseline
from crystalkit.errors import CrystalInputError
from crystalkit.models import BackboneConfig, Diffusion, FlowMatching, PeriodicBackbone
from crystalkit.sampling import as_compositions


def test_formulas_become_cell_compositions():
    parsed = as_compositions(["SrTiO3", " Sr2Ti2O6 ", "Ca(OH)2"])
    assert parsed == [Composition("SrTiO3"), Composition("Sr2Ti2O6"), Composition("CaO2H2")]
    assert [c.num_atoms for c in parsed] == [5, 10, 5]  # the formula fixes the atom count of the cell
    assert as_compositions("C8") == [Composition("C8")]  # one formula alone is one target, not 2 characters
    oxidised = Composition({Species("Fe", 2): 1, Species("O", -2): 1})
    assert as_compositions([oxidised]) == [oxidised]  # elements with oxidation states are still elements


def test_an_unknown_element_is_named():
    """pymatgen reads 'Xx' as a placeholder without complaint; the kit must refuse it and say which symbol."""
    assert any(isinstance(species, DummySpecies) for species in Composition("Xx2O3"))  # pymatgen's lazy reading
    with pytest.raises(CrystalInputError, match=r"'Xx2O3' names 'Xx', which is not a chemical element") as caught:
        as_compositions(["SrTiO3", "Xx2O3"])
    assert "like 'SrTiO3'" in str(caught.value)  # and says how to write one
    with pytest.raises(CrystalInputError, match="'Xx', 'Qz', which are not chemical elements"):
        as_compositions([Composition({DummySpecies("Xx"): 2, DummySpecies("Qz"): 1, Element("O"): 3})])


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("", "empty formula"),
        ("   ", "empty formula"),
        ("Srtio3", "Cannot read the formula 'Srtio3'"),
        ("Fe0.5Ni0.5Co", "0.5 Fe atoms"),
        ("O0", "at least one atom"),
        (5, "formula string or a pymatgen Composition, got int"),
    ],
)
def test_bad_formulas_say_what_is_wrong(formula, message):
    with pytest.raises(CrystalInputError, match=message):
        as_compositions([formula])


def _tiny_backbone() -> PeriodicBackbone:
    torch.manual_seed(0)
    return PeriodicBackbone(BackboneConfig(hidden_dim=8, num_layers=1, num_heads=1, num_frequencies=2,
                                           num_distance_features=4, time_frequencies=2))


def _substitution(srtio3) -> PrototypeSubstitutionBaseline:
    return PrototypeSubstitutionBaseline([srtio3])


GENERATORS = {
    "diffusion": lambda srtio3: Diffusion(_tiny_backbone()),
    "flow": lambda srtio3: FlowMatching(_tiny_backbone()),
    "random_symmetric": lambda srtio3: RandomSymmetricBaseline({221: 1}),
    "substitution": _substitution,
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_names_an_unknown_element(name, srtio3):
    """Learned models (untrained: the check comes before any network runs) and both baselines."""
    generator = GENERATORS[name](srtio3)
    with pytest.raises(CrystalInputError, match="names 'Xx', which is not a chemical element"):
        generator.sample(["Xx2O3"], num_samples=1, seed=0)
