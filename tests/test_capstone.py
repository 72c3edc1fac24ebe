"""The capstone scoring: the same metrics for every generator, intervals, the template family, the table and plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.capstone import (
    CapstoneConfig,
    CapstoneTable,
    Contender,
    TemplateFamily,
    format_table,
    quality_compute_figure,
    run_capstone,
    score_csp,
    score_denovo,
    with_overrides,
)
from crystalkit.errors import CrystalInputError
from crystalkit.metrics.intervals import Interval
from crystalkit.sampling import StructureGenerator


def _perovskite(a: float, a_site: str = "Sr", b_site: str = "Ti") -> Structure:
    return Structure(Lattice.cubic(a), [a_site, b_site, "O", "O", "O"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


TRAIN = [_perovskite(3.9), _perovskite(4.0, "Ba"), _perovskite(4.1, "Ba", "Zr"), _perovskite(3.95, "Ca")]


class Failing:
    """A generator whose every sample failed (None): must count as unmatched / invalid, never dropped."""

    def sample(self, compositions, num_samples=1, *, seed=None):
        if compositions is None:
            return [[None] * num_samples]
        return [[None] * num_samples for _ in compositions]


def test_template_family_is_a_structure_generator_and_copies_known_crystals():
    template = TemplateFamily(TRAIN)
    assert isinstance(template, StructureGenerator)
    (copies,) = template.sample(["BaTiO3"], 3, seed=0)
    assert all(c == TRAIN[1] for c in copies)
    (doubled,) = template.sample(["Sr2Ti2O6"], 1, seed=0)
    assert doubled[0].composition.reduced_formula == "SrTiO3" and len(doubled[0]) == 10
    (unknown,) = template.sample(["KNbO3"], 2, seed=1)  # no training crystal: random cubic cell, right atoms
    assert all(s.composition.reduced_formula == "KNbO3" for s in unknown)
    assert unknown[0].volume == pytest.approx(np.mean([s.volume / 5 for s in TRAIN]) * 5)
    assert template.sample(["KNbO3"], 1, seed=1)[0][0] == unknown[0]  # seeded
    (invented,) = template.sample(None, 5, seed=0)
    assert len(invented) == 5 and all(any(s == t for t in TRAIN) for s in invented)


def test_template_family_refuses_bad_input():
    with pytest.raises(CrystalInputError, match="non-empty"):
        TemplateFamily([])
    with pytest.raises(CrystalInputError, match="num_samples"):
        TemplateFamily(TRAIN).sample(["SrTiO3"], 0)


def test_score_csp_counts_matches_with_intervals():
    targets = TRAIN[:3]
    perfect = score_csp(TemplateFamily(TRAIN), targets, 1)
    assert perfect["n_matched"] == 3 and perfect["match"].estimate == 1.0
    assert isinstance(perfect["match"], Interval) and perfect["match"].low < 1.0  # 3 targets: a wide interval
    assert perfect["rmse"].estimate == pytest.approx(0.0, abs=1e-6)
    # A model that knows only SrTiO3: one of three targets, the others fall back to random cells.
    partial = score_csp(TemplateFamily(TRAIN[:1]), targets, 1)
    assert partial["n_matched"] < 3
    failed = score_csp(Failing(), targets, 2)
    assert failed["n_matched"] == 0 and failed["rmse"] is None and failed["n_structures"] == 6


def test_score_csp_refuses_no_targets_and_wrong_list_counts():
    with pytest.raises(CrystalInputError, match="at least one target"):
        score_csp(TemplateFamily(TRAIN), [], 1)

    class Short:
        def sample(self, compositions, num_samples=1, *, seed=None):
            return []

    with pytest.raises(CrystalInputError, match="one list per composition"):
        score_csp(Short(), TRAIN[:2], 1)


def test_score_denovo_copying_training_crystals_is_valid_but_never_novel():
    energies_seen = []

    def fake_energy(structures):  # e_above_hull in eV/atom: everything "stable"
        energies_seen.append(len(structures))
        return [0.0] * len(structures)

    scores = score_denovo(TemplateFamily(TRAIN), TRAIN, TRAIN, 6, dataset="perovskites", sun_samples=4,
                          energy_fn=fake_energy)
    assert scores["valid"] == 1.0
    assert scores["novel"] == 0.0  # copies of the training set
    assert scores["sun"].estimate == 0.0 and scores["n_sun_scored"] == 4  # stable but not novel
    assert energies_seen == [4]
    failed = score_denovo(Failing(), TRAIN, TRAIN, 4, dataset="perovskites", sun_samples=2, energy_fn=fake_energy)
    assert failed["valid"] == 0.0 and failed["sun"].estimate == 0.0
    assert energies_seen == [4]  # invalid samples get no energy


def test_score_denovo_novel_stable_crystals_count_as_sun():
    novel = [_perovskite(4.3, "K", "Nb"), _perovskite(4.2, "Ba", "Hf")]

    class Inventor:
        def sample(self, compositions, num_samples=1, *, seed=None):
            return [[novel[i % 2] for i in range(num_samples)]]

    scores = score_denovo(Inventor(), TRAIN, TRAIN, 4, dataset="perovskites", sun_samples=4,
                          energy_fn=lambda s: [0.0, 0.5, 0.0, 0.0][: len(s)])
    # Stable: samples 0, 2, 3 (K, K, Ba-Hf); distinct: KNbO3 and BaHfO3 -> 2 of 4.
    assert scores["sun"].estimate == pytest.approx(0.5)
    with pytest.raises(CrystalInputError, match="at least 1"):
        score_denovo(Inventor(), TRAIN, TRAIN, 0)


def test_sun_judges_novelty_on_the_relaxed_crystal():
    """A sample that relaxes onto a training crystal is not novel, however far from it the generator put it."""
    distorted = TRAIN[0].copy()
    distorted.apply_strain([0.3, -0.2, 0.1])  # far beyond StructureMatcher's tolerances: novel as generated

    class Distorter:
        def sample(self, compositions, num_samples=1, *, seed=None):
            return [[distorted.copy() for _ in range(num_samples)]]

    as_generated = score_denovo(Distorter(), TRAIN, TRAIN, 2, dataset="perovskites", sun_samples=2,
                                energy_fn=lambda structures: [0.0] * len(structures))
    assert as_generated["novel"] == 1.0 and as_generated["sun"].estimate == 0.5  # one distinct novel crystal
    relaxed_home = score_denovo(Distorter(), TRAIN, TRAIN, 2, dataset="perovskites", sun_samples=2,
                                energy_fn=lambda structures: ([0.0] * len(structures), [TRAIN[0]] * len(structures)))
    assert relaxed_home["novel"] == 1.0  # the panel's novelty is of the samples as generated (CDVAE's convention)
    assert relaxed_home["sun"].estimate == 0.0  # S.U.N.'s is of the relaxed crystals (MatterGen's)
    with pytest.raises(CrystalInputError, match="one of each per crystal"):
        score_denovo(Distorter(), TRAIN, TRAIN, 2, dataset="perovskites", sun_samples=2,
                     energy_fn=lambda structures: ([0.0] * len(structures), []))


@pytest.mark.slow
def test_chgnet_relaxation_returns_the_relaxed_structures():
    from crystalkit.capstone import chgnet_e_above_hull

    stretched = TRAIN[0].copy()
    stretched.scale_lattice(stretched.volume * 1.3)
    energies, finals = chgnet_e_above_hull([stretched], relax_steps=20, return_structures=True)
    assert len(energies) == 1 and len(finals) == 1
    assert finals[0].volume < stretched.volume  # the cell contracted toward its relaxed size
    assert chgnet_e_above_hull([stretched]) != [] and chgnet_e_above_hull([], return_structures=True) == ([], [])


def test_run_capstone_scores_the_given_contenders_into_one_table():
    config = CapstoneConfig(csp_targets=3, csp_targets_multi=2, k_values=(1, 2), denovo_samples=4, sun_samples=0)
    rows = [Contender("copy", "yours", "template", TemplateFamily(TRAIN), TemplateFamily(TRAIN), 0.1, "here"),
            Contender("csp only", "model", "x", csp=Failing(), train_seconds=5.0)]
    table = run_capstone(config, contenders=rows)
    assert isinstance(table, CapstoneTable)
    assert list(table.rows.index) == ["copy", "csp only"]
    assert table.n_csp_targets == {1: 3, 2: 2}
    assert table.row("csp only")["match@1"].estimate == 0.0
    assert math.isnan(table.row("csp only")["valid"])  # does no de novo: no figure, not zero
    text = format_table(table)
    assert text.loc["csp only", "valid"] == "-" and text.loc["csp only", "rmse@1"] == "-"
    assert text.loc["csp only", "match@1"].startswith("0 % (0-")
    figure = quality_compute_figure(table)
    assert sum(len(trace.x) for trace in figure.data) == 2
    with pytest.raises(CrystalInputError, match="no column"):
        quality_compute_figure(table, k=20)
    with pytest.raises(CrystalInputError, match="No row"):
        table.row("nobody")
    more = run_capstone(config, contenders=[Contender("again", "yours", "t", csp=TemplateFamily(TRAIN))])
    assert list(table.extended(more).rows.index) == ["copy", "csp only", "again"]
    other = run_capstone(with_overrides(config, seed=1), contenders=[Contender("x", "yours", "t", csp=Failing())])
    with pytest.raises(CrystalInputError, match="same one"):
        table.extended(other)


def test_config_overrides_refuse_unknown_fields():
    assert with_overrides(CapstoneConfig(), seed=3).seed == 3
    with pytest.raises(CrystalInputError, match="no field"):
        with_overrides(CapstoneConfig(), targets=3)
    full = CapstoneConfig.full()
    assert not full.quick and full.train_steps and full.csp_targets is None and full.sun_relax_steps > 0


@pytest.mark.slow
def test_shipped_families_score_on_bundled_perovskites():
    """Every shipped family enters the table with its own CSP and de novo cells (a few targets only)."""
    from crystalkit.capstone import baseline_contenders, model_contenders
    from crystalkit.data import load_dataset

    config = CapstoneConfig(csp_targets=2, csp_targets_multi=1, k_values=(1,), denovo_samples=3, sun_samples=0)
    models = model_contenders(config)
    assert {m.name for m in models if m.csp is not None} == {"diffusion", "flow matching", "VAE", "GAN",
                                                              "normalizing flow", "language model"}
    assert {m.name for m in models if m.denovo is not None} == {"diffusion", "GFlowNet"}
    rows = [m for m in models if m.name in ("GAN", "GFlowNet")]
    rows += baseline_contenders(load_dataset("perovskites", "train").structures)[1:]
    table = run_capstone(config, contenders=rows)
    assert isinstance(table.row("GAN")["match@1"], Interval)
    assert 0.0 <= table.row("GFlowNet")["valid"] <= 1.0
    assert table.row("prototype substitution")["train_s"] >= 0


@pytest.mark.parametrize("task, families", [("csp", "CSP_FAMILIES"), ("de_novo", "DENOVO_FAMILIES")])
def test_full_mode_can_build_every_family_it_retrains(task, families):
    """Full mode retrains each listed family for its task: each must accept that task (no crash after an hour)."""
    from crystalkit import capstone
    from crystalkit.commands.train import build_family

    for family in getattr(capstone, families):
        model = build_family(family, task, family == "gfn")
        assert model.config.task == task or family == "gfn"


@pytest.mark.slow
def test_full_mode_retrains_a_family_with_a_step_budget():
    from crystalkit.capstone import train_family

    trained = train_family("gan", "csp", "perovskites", max_steps=2)
    model = trained.model
    assert trained.steps == 2 and trained.seconds > 0 and trained.trained_on == "perovskites"
    assert not model.training
    gfn = train_family("gfn", "de_novo", "inorganic", max_steps=1)  # the GFlowNet's reward needs its ABX3 labels
    assert gfn.trained_on == "perovskites" and gfn.train_crystals > 100
    with pytest.raises(CrystalInputError, match="exactly one budget"):
        train_family("gan", "csp", "perovskites")
    (samples,) = model.sample(["SrTiO3"], 2, seed=0)
    assert len(samples) == 2 and all(s is None or s.composition.reduced_formula == "SrTiO3" for s in samples)
