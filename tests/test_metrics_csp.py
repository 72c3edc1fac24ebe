"""CSP match rate and RMSE: known answers, the published validity rule, k samples, and bad input."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.metrics import STANDARD_MATCHER, check_validity, csp_metrics, csp_table, examples
from crystalkit.metrics.examples import cubic_perovskite, equivalent_copy, rattle, with_overlap


@functools.cache
def _from_space_group(name: str, options: tuple) -> Structure:
    return getattr(examples, name)(**dict(options))


def rock_salt(**options) -> Structure:
    """``examples.rock_salt``, built once per options: pymatgen rebuilds Fm-3m's operations each time (~1 s)."""
    return _from_space_group("rock_salt", tuple(sorted(options.items()))).copy()


def diamond(**options) -> Structure:
    """``examples.diamond``, built once per options (see :func:`rock_salt`)."""
    return _from_space_group("diamond", tuple(sorted(options.items()))).copy()


def test_k1_known_answer():
    targets = [rock_salt(), cubic_perovskite(), diamond()]
    predicted = [equivalent_copy(rock_salt(), seed=1), rattle(cubic_perovskite(), 1.5, seed=0), None]
    result = csp_metrics(predicted, targets, n_jobs=1)
    assert result.match_rate == pytest.approx(1 / 3)
    assert result.rmse == pytest.approx(0.0, abs=1e-6)
    assert [t.matched for t in result.targets] == [True, False, False]
    assert result.targets[2].samples[0].failed and result.k == 1


def test_no_match_gives_nan_rmse_not_an_error():
    result = csp_metrics([rattle(diamond(), 0.9, seed=2)], [diamond()], n_jobs=1)
    assert result.match_rate == 0 and math.isnan(result.rmse)


def test_charge_unbalanced_target_never_matches_under_the_published_rule():
    target = cubic_perovskite(a_site="K", b_site="Na", anion="F")  # KNaF3: +1 +1 -3, not balanced
    perfect = equivalent_copy(target, seed=2)
    published = csp_metrics([perfect], [target], n_jobs=1)
    structural = csp_metrics([perfect], [target], validity="structural", n_jobs=1)
    assert not published.targets[0].target_validity.compositional
    assert published.match_rate == 0.0  # the prediction has the same formula: invalid too
    assert csp_metrics([[perfect, perfect]], [target], n_jobs=1).match_rate == 0.0  # at any k
    assert structural.match_rate == 1.0 and structural.rmse == pytest.approx(0.0, abs=1e-6)


def test_target_validity_is_required_at_k1_only():
    target = with_overlap(cubic_perovskite(), distance=0.45)  # structurally invalid target
    prediction = with_overlap(cubic_perovskite(), distance=0.55)  # valid, 0.1 Å from the target
    assert not check_validity(target).structural and check_validity(prediction).structural
    assert csp_metrics([prediction], [target], n_jobs=1).match_rate == 0.0  # DiffCSP k = 1
    assert csp_metrics([prediction], [target], require_valid_target=False, n_jobs=1).match_rate == 1.0  # CDVAE
    assert csp_metrics([[prediction, None]], [target], n_jobs=1).match_rate == 1.0  # DiffCSP k > 1


def test_structurally_invalid_prediction_is_not_tried_unless_validity_none():
    target = with_overlap(cubic_perovskite(), distance=0.6)  # valid, two atoms close
    overlapping = with_overlap(cubic_perovskite(), distance=0.4)  # 0.2 Å away from it, but invalid
    assert csp_metrics([overlapping], [target], validity="structural", n_jobs=1).match_rate == 0.0
    none = csp_metrics([overlapping], [target], validity="none", n_jobs=1)
    assert none.match_rate == 1.0 and none.targets[0].samples[0].eligible


def test_k_samples_best_valid_rms_counts():
    target = cubic_perovskite()
    samples = [rattle(target, 1.5, seed=0), rattle(target, 0.15, seed=1), rattle(target, 0.05, seed=2), None]
    result = csp_metrics([samples], [target], k=4, n_jobs=1)
    singles = [csp_metrics([s], [target], n_jobs=1).targets[0].rms for s in samples[:3]]
    assert singles[0] is None and 0 < singles[2] < singles[1]
    assert result.match_rate == 1.0 and result.targets[0].best_sample == 2
    assert result.rmse == singles[2] and result.k == 4 and not result.require_valid_target
    first_only = csp_metrics([samples[:1]], [target], n_jobs=1)
    assert first_only.match_rate == 0.0  # the same target, one bad sample: k matters


def _published_reference(predicted, targets, k):
    """A slow, literal re-implementation of DiffCSP's RecEval (k = 1) / RecEvalBatch (k > 1)."""
    matcher = StructureMatcher(**STANDARD_MATCHER)
    best = []
    for samples, target in zip(predicted, targets):
        target_ok = check_validity(target, fingerprint=True).valid
        values = []
        for sample in samples:
            if sample is None or not check_validity(sample, fingerprint=True).valid or (k == 1 and not target_ok):
                continue
            try:
                value = matcher.get_rms_dist(sample, target)
            except Exception:  # noqa: BLE001 -- as the published loop
                value = None
            if value is not None:
                values.append(value[0])
        best.append(min(values) if values else None)
    found = np.array([b is not None for b in best])
    matched = np.array(best, dtype=object)[found]  # the published scripts average an object array
    return found.sum() / len(targets), (matched.mean() if len(matched) else math.nan)


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3])
def test_equals_a_plain_loop_of_the_published_protocol(k):
    bases = [rock_salt(), cubic_perovskite(), diamond(), cubic_perovskite(a_site="K", b_site="Na", anion="F"),
             with_overlap(cubic_perovskite(a_site="Ba"), 0.45)]
    targets, predicted = [], []
    for i, base in enumerate(bases):
        targets.append(base)
        sigmas = [0.02, 0.3, 0.9][:k] if i % 2 else [0.9, 0.05, 0.2][:k]
        predicted.append([rattle(equivalent_copy(base, seed=i), s, seed=10 * i + j) for j, s in enumerate(sigmas)])
    predicted[2][0] = with_overlap(predicted[2][0], 0.3)
    result = csp_metrics(predicted, targets, k=k, n_jobs=1)
    match_rate, rmse = _published_reference(predicted, targets, k)
    assert result.match_rate == match_rate
    assert result.rmse == rmse or (math.isnan(result.rmse) and math.isnan(rmse))  # to the last digit


def test_fast_path_equals_plain_get_rms_dist_loop_without_validity():
    targets = [rock_salt(), cubic_perovskite(), diamond(), rock_salt(cation="K")]
    predicted = [rattle(equivalent_copy(t, seed=i, supercell=(1, 1, 2)), 0.1 * i, seed=i)
                 for i, t in enumerate(targets)]
    predicted[3] = rock_salt()  # wrong formula
    plain = StructureMatcher(**STANDARD_MATCHER)
    expected = [plain.get_rms_dist(p, t) for p, t in zip(predicted, targets)]
    result = csp_metrics(predicted, targets, validity="none", n_jobs=1)
    assert [t.rms for t in result.targets] == [None if e is None else e[0] for e in expected]


@pytest.mark.slow
def test_parallel_equals_serial():
    targets = [rattle(cubic_perovskite(a=3.9 + 0.01 * i), 0.01, seed=i) for i in range(6)] + [diamond(), rock_salt()]
    predicted = [[rattle(t, s, seed=i) for s in (0.05, 0.5)] for i, t in enumerate(targets)]
    serial = csp_metrics(predicted, targets, n_jobs=1)
    parallel = csp_metrics(predicted, targets, n_jobs=2)
    assert serial == parallel


def test_result_tables():
    result = csp_metrics([rock_salt()], [rock_salt()], n_jobs=1)
    frame = result.to_frame()
    assert list(frame["matched"]) == [True] and frame.loc[0, "n_eligible"] == 1
    summary = result.summary()
    assert summary["match_rate"] == 1.0 and summary["matcher_stol"] == 0.5 and summary["k"] == 1


@pytest.mark.parametrize(
    "predicted, targets, kwargs, message",
    [
        ([rock_salt()], [rock_salt(), diamond()], {}, "1 entries but targets has 2"),
        ([], [], {}, "non-empty"),
        ([[]], [rock_salt()], {}, "empty list"),
        ([rock_salt()], [rock_salt()], {"k": 0}, "positive integer"),
        ([[rock_salt(), rock_salt()]], [rock_salt()], {"k": 1}, "at most k"),
        (["NaCl"], [rock_salt()], {}, "not a pymatgen Structure"),
        ([rock_salt()], [None], {}, "not a pymatgen Structure"),
        ([rock_salt()], [rock_salt()], {"validity": "loose"}, "validity must be"),
    ],
)
def test_bad_input_raises(predicted, targets, kwargs, message):
    with pytest.raises(CrystalInputError, match=message):
        csp_metrics(predicted, targets, n_jobs=1, **kwargs)


def test_disordered_target_raises():
    disordered = Structure(rock_salt().lattice, [{"Na": 0.5, "K": 0.5}] * 4 + ["Cl"] * 4, rock_salt().frac_coords)
    with pytest.raises(CrystalInputError, match="disordered"):
        csp_metrics([rock_salt()], [disordered], n_jobs=1)


def _two_targets():
    """Rock salt is found only by its second sample, the perovskite only by its first (None: a failed sample)."""
    targets = [rock_salt(), cubic_perovskite()]
    samples = [[None, equivalent_copy(rock_salt(), seed=1)], [equivalent_copy(cubic_perovskite(), seed=2), None]]
    return targets, samples


def test_csp_table_known_values_at_each_k():
    targets, samples = _two_targets()
    table = csp_table({"copies": samples}, targets, ks=(1, 2), n_jobs=1)
    assert list(table.columns) == ["method", "k", "match rate", "RMSE", "matched", "targets", "valid samples"]
    assert list(table["k"]) == [1, 2]
    assert list(table["match rate"]) == [0.5, 1.0] and list(table["matched"]) == [1, 2]
    assert list(table["targets"]) == [2, 2]
    assert list(table["valid samples"]) == [0.5, 0.5]  # k=1: (0 + 1) / 2; k=2: (1/2 + 1/2) / 2
    assert table["RMSE"].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_csp_table_rows_are_csp_metrics_of_the_first_k_samples():
    targets = [cubic_perovskite()]
    samples = [[rattle(targets[0], 0.3, seed=0), rattle(targets[0], 0.05, seed=1), rattle(targets[0], 0.15, seed=2)]]
    table = csp_table({"a": samples, "b": [samples[0][::-1]]}, targets, ks=[1, 3], n_jobs=1)
    assert list(zip(table["method"], table["k"])) == [("a", 1), ("a", 3), ("b", 1), ("b", 3)]
    for row in table.to_dict("records"):
        chosen = samples[0] if row["method"] == "a" else samples[0][::-1]
        expected = csp_metrics([chosen[: row["k"]]], targets, k=row["k"], n_jobs=1)
        assert row["match rate"] == expected.match_rate
        assert row["RMSE"] == expected.rmse or (math.isnan(row["RMSE"]) and math.isnan(expected.rmse))


class _CopyingGenerator:
    """Answers every composition with rewritten copies of the matching target, and records its calls."""

    def __init__(self, targets):
        self.targets, self.calls = targets, []

    def sample(self, compositions, num_samples=1, *, seed=None):
        self.calls.append((len(compositions), num_samples, seed))
        by_formula = {t.composition.formula: t for t in self.targets}
        return [[equivalent_copy(by_formula[c.formula], seed=seed + j) for j in range(num_samples)]
                for c in compositions]


def test_csp_table_asks_a_generator_once_for_the_largest_k():
    targets = [rock_salt(), cubic_perovskite()]
    generator = _CopyingGenerator(targets)
    table = csp_table({"copier": generator}, targets, ks=(1, 3), seed=7, n_jobs=1)
    assert generator.calls == [(2, 3, 7)]
    assert list(table["match rate"]) == [1.0, 1.0] and list(table["valid samples"]) == [1.0, 1.0]


@pytest.mark.parametrize(
    "methods, ks, message",
    [
        ({}, (1,), "non-empty mapping"),
        ({"short": [[rock_salt()]]}, (1,), "1 sample lists for 2 targets"),
        ({"few": [[rock_salt()], [cubic_perovskite()]]}, (1, 2), "1 samples for target 0 but ks asks for up to 2"),
        ({"one": rock_salt()}, (1,), "give a generator or one list of samples per target"),
        ({"ok": [[rock_salt()], [cubic_perovskite()]]}, (0,), "positive integers"),
        ({"ok": [[rock_salt()], [cubic_perovskite()]]}, (), "positive integers"),
        ({"ok": [[rock_salt()], [cubic_perovskite()]]}, (1.5,), "positive integers"),
        ({"ok": [[rock_salt()], [cubic_perovskite()]]}, (True,), "positive integers"),
    ],
)
def test_csp_table_bad_input_raises(methods, ks, message):
    with pytest.raises(CrystalInputError, match=message):
        csp_table(methods, [rock_salt(), cubic_perovskite()], ks=ks, n_jobs=1)


def test_oxidation_state_list_decides_whether_a_target_can_match():
    target = cubic_perovskite(a_site="Ca", b_site="Cd", anion="O")  # CaCdO3: balances under SMACT-14 only
    perfect = equivalent_copy(target, seed=2)
    default = csp_metrics([perfect], [target], n_jobs=1)
    icsd24 = csp_metrics([perfect], [target], n_jobs=1, oxidation_states="icsd24")
    assert default.oxidation_states == "smact14" and default.summary()["oxidation_states"] == "smact14"
    assert default.match_rate == 1.0 and default.targets[0].target_validity.compositional
    assert icsd24.match_rate == 0.0 and not icsd24.targets[0].target_validity.compositional
    table = csp_table({"perfect": [[perfect]]}, [target], oxidation_states="icsd24", n_jobs=1)
    assert list(table["match rate"]) == [0.0]


def test_unknown_oxidation_state_list_raises():
    with pytest.raises(CrystalInputError, match="oxidation_states must be one of"):
        csp_metrics([rock_salt()], [rock_salt()], n_jobs=1, oxidation_states="icsd16")
    with pytest.raises(CrystalInputError, match="oxidation_states must be one of"):
        csp_table({"a": [[rock_salt()]]}, [rock_salt()], n_jobs=1, oxidation_states="wiki")


@pytest.mark.parametrize("validity, loads", [("published", True), ("structural", False)])
def test_a_forked_parallel_run_loads_the_fingerprint_featurizer_here_once(monkeypatch, validity, loads):
    """Workers forked from this process inherit matminer instead of each importing it (seconds of CPU)."""
    from crystalkit.metrics import _parallel, fingerprints

    if not _parallel.forks_workers():
        pytest.skip("worker processes are not forked on this platform")
    calls = []
    monkeypatch.setattr(fingerprints, "load_featurizers", lambda: calls.append(1))
    targets = [rock_salt(), cubic_perovskite()]
    parallel = csp_metrics([equivalent_copy(t, seed=1) for t in targets], targets, validity=validity, n_jobs=2)
    assert calls == ([1] if loads else [])
    assert parallel.match_rate == 1.0
    csp_metrics([rock_salt()], [rock_salt()], validity=validity, n_jobs=1)
    assert len(calls) == (1 if loads else 0)  # one process: the first fingerprint loads it anyway
