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


class _Recorder:
    """A CSP generator that records what it was asked and answers with a cubic cell of each composition."""

    def __init__(self, empty_for: str | None = None):
        self.calls = []
        self.empty_for = empty_for

    def sample(self, compositions, num_samples=1, *, seed=None, **options):
        from pymatgen.core import Lattice, Structure

        compositions = as_compositions(compositions)
        self.calls.append((compositions, num_samples, seed, options))
        out = []
        for composition in compositions:
            if composition.reduced_formula == self.empty_for:
                out.append([])
                continue
            species = [str(el) for el, n in composition.items() for _ in range(int(n))]
            out.append([Structure(Lattice.cubic(4.0), species, [[i / len(species)] * 3 for i in range(len(species))])
                        for _ in range(num_samples)])
        return out


def test_composition_first_draws_pool_compositions_in_one_batched_call():
    from crystalkit.sampling import CompositionFirst

    recorder = _Recorder()
    generator = CompositionFirst(recorder, ["SrTiO3", "C8", "C8", "Na2Cl2"])
    (crystals,) = generator.sample(None, 40, seed=3, temperature=0.5)
    assert len(crystals) == 40 and len(recorder.calls) == 1
    asked, k, seed, options = recorder.calls[0]
    assert k == 1 and seed == 3 and options == {"temperature": 0.5}
    assert [c.composition for c in crystals] == asked  # each crystal is of the composition drawn for it
    formulas = [c.composition.formula.replace(" ", "") for c in crystals]
    assert set(formulas) <= {"Sr1Ti1O3", "C8", "Na2Cl2"} and formulas.count("C8") > formulas.count("Sr1Ti1O3")
    again = CompositionFirst(_Recorder(), ["SrTiO3", "C8", "C8", "Na2Cl2"]).sample(None, 40, seed=3)[0]
    assert [c.composition for c in again] == asked  # the seed fixes the draw


def test_composition_first_passes_csp_through_and_keeps_failures_as_none():
    from crystalkit.sampling import CompositionFirst

    recorder = _Recorder(empty_for="C")
    generator = CompositionFirst(recorder, ["C8"])
    (crystals,) = generator.sample(None, 3, seed=0)
    assert crystals == [None, None, None]  # a composition the generator could not answer is a failed sample, kept
    csp = generator.sample(["SrTiO3"], 2, seed=1)
    assert len(csp) == 1 and len(csp[0]) == 2 and recorder.calls[-1][1] == 2


def test_composition_first_refuses_bad_input():
    from pymatgen.core import Lattice, Structure

    from crystalkit.sampling import CompositionFirst

    with pytest.raises(CrystalInputError, match="non-empty list"):
        CompositionFirst(_Recorder(), [])
    with pytest.raises(CrystalInputError, match="sample"):
        CompositionFirst(object(), ["C8"])
    with pytest.raises(CrystalInputError, match="not a chemical element"):
        CompositionFirst(_Recorder(), ["Xx2O3"])
    with pytest.raises(CrystalInputError, match="list of structures"):
        CompositionFirst.from_structures(_Recorder(), Structure(Lattice.cubic(3.0), ["C"], [[0, 0, 0]]))
    with pytest.raises(CrystalInputError, match="positive integer"):
        CompositionFirst(_Recorder(), ["C8"]).sample(None, 0)
