"""The model chooser: different situations, different sensible answers; bad input refused; evidence from the table."""

from __future__ import annotations

import pandas as pd
import pytest

from crystalkit.capstone import CapstoneConfig, CapstoneTable
from crystalkit.chooser import OPTIONS, REFERENCES, Recommendation, Situation, recommend, recommendation_html
from crystalkit.errors import CrystalInputError
from crystalkit.metrics.intervals import Interval, wilson_interval

#: Six realistic situations and what a sensible answer must contain.
SITUATIONS = {
    "laptop, perovskites, CSP": ({"task": "csp", "data_size": "small", "chemistry": "one_prototype", "compute": "laptop"},
                                 "flow matching", "FlowMM"),
    "GPU, big set, CSP": ({"task": "csp", "data_size": "large", "chemistry": "periodic_table", "compute": "gpu"},
                          "diffusion", "DiffCSP"),
    "few crystals, whole table, CSP": ({"task": "csp", "data_size": "small", "chemistry": "periodic_table",
                                            "compute": "laptop"}, "prototype substitution", "PyXtal"),
    "space group fixed, CSP": ({"task": "csp", "data_size": "medium", "chemistry": "periodic_table", "compute": "gpu",
                                    "symmetry": True}, "language model", "CrystaLLM"),
    "GPU, de novo, property": ({"task": "de_novo", "data_size": "large", "chemistry": "periodic_table", "compute": "gpu",
                                    "property_target": True}, "guided diffusion", "MatterGen"),
    "laptop, de novo, one prototype, property": ({"task": "de_novo", "data_size": "small", "chemistry": "one_prototype",
                                                      "compute": "laptop", "property_target": True}, "GFlowNet", "gflownet"),
    "laptop, de novo": ({"task": "de_novo", "data_size": "small", "chemistry": "periodic_table", "compute": "laptop"},
                        "diffusion", "DiffCSP"),
    "disordered alloy": ({"task": "csp", "data_size": "medium", "chemistry": "periodic_table", "compute": "gpu",
                              "disorder": True}, "ordered approximants", "notebook 11"),
}


def _table() -> CapstoneTable:
    """A capstone table with made-up figures (no sampling): enough to check that evidence comes from it."""
    rows = pd.DataFrame({
        "kind": ["model", "model", "model", "model", "model", "baseline", "baseline"],
        "match@1": [wilson_interval(9, 16), wilson_interval(12, 16), None, wilson_interval(7, 16), None,
                    wilson_interval(8, 16), wilson_interval(2, 16)],
        "valid": [0.9, float("nan"), 1.0, float("nan"), float("nan"), float("nan"), 0.5],
        "sun": [wilson_interval(1, 6), None, wilson_interval(2, 6), None, None, None, wilson_interval(0, 6)],
        "sample_ms": [200.0, 25.0, 1.0, 400.0, float("nan"), 10.0, 300.0],
    }, index=["diffusion", "flow matching", "GFlowNet", "language model", "VAE", "prototype substitution",
              "random symmetric (PyXtal)"])
    return CapstoneTable(rows, CapstoneConfig(), {1: 16, 20: 4}, 108, 0.0)


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_each_situation_gets_a_sensible_family_and_code(name):
    situation, family, code = SITUATIONS[name]
    advice = recommend(situation)
    assert isinstance(advice, Recommendation)
    assert family in advice.family
    assert code in advice.published_code or any(code in reason for reason in advice.reasons)
    assert advice.reasons and advice.references
    assert set(advice.references) <= set(REFERENCES.values())


def test_different_situations_give_different_answers():
    answers = {(recommend(s).family, recommend(s).published_code) for s, _, _ in SITUATIONS.values()}
    assert len(answers) >= 6


def test_disorder_is_answered_honestly_whatever_else_is_asked():
    for task in OPTIONS["task"]:
        advice = recommend(Situation(task=task, compute="gpu", data_size="large", disorder=True, property_target=True))
        assert advice.family.startswith("none")
        assert any("ordered approximant" in reason for reason in advice.reasons)


@pytest.mark.parametrize("bad", [{"task": "csp", "compute": "cluster"}, {"task": "inverse"},
                                 {"data_size": "huge"}, {"symmetry": "yes"}, {"budget": "laptop"}])
def test_unknown_option_raises_a_clear_error(bad):
    with pytest.raises(CrystalInputError, match="choose one of|asks about"):
        recommend(bad)


def test_situation_refuses_unknown_values_and_recommend_refuses_other_types():
    with pytest.raises(CrystalInputError, match="compute"):
        Situation(compute="tpu")
    with pytest.raises(CrystalInputError, match="Situation or a dict"):
        recommend("csp on a laptop")


def test_evidence_rows_come_from_the_table_given():
    table = _table()
    advice = recommend(SITUATIONS["laptop, perovskites, CSP"][0], table)
    assert list(advice.evidence.index) == [r for r in advice.evidence_rows if r in table.rows.index]
    assert "flow matching" in advice.evidence.index
    pd.testing.assert_series_equal(advice.evidence.loc["flow matching"], table.rows.loc["flow matching"])
    flow = table.rows.loc["flow matching", "match@1"]
    assert any(f"{flow.estimate:.0%}" in reason and "16 targets" in reason for reason in advice.reasons)
    # Another table, other figures: the quoted sentence follows the table.
    other = _table()
    other.rows.loc["flow matching", "match@1"] = wilson_interval(1, 16)
    assert recommend(SITUATIONS["laptop, perovskites, CSP"][0], other).reasons != advice.reasons


def test_without_a_table_there_is_no_evidence_and_no_quoted_figure():
    advice = recommend(SITUATIONS["GPU, big set, CSP"][0])
    assert advice.evidence.empty
    assert not any(reason.startswith("Capstone:") for reason in advice.reasons)
    assert "52.02 %" in " ".join(advice.reasons)  # DiffCSP's published Perov-5 figure, as in RESULTS.md


def test_de_novo_evidence_quotes_validity_and_sun():
    advice = recommend(SITUATIONS["laptop, de novo, one prototype, property"][0], _table())
    assert "GFlowNet" in advice.evidence.index
    assert any("100% valid" in reason and "S.U.N. 33%" in reason for reason in advice.reasons)


def test_html_escapes_and_lists_every_reason():
    advice = recommend(SITUATIONS["space group fixed, CSP"][0], _table())
    html = recommendation_html(advice)
    assert html.count("<li>") == len(advice.reasons) + len(advice.references)
    assert "<script" not in html


def test_chooser_form_updates_its_advice_when_a_dropdown_changes():
    pytest.importorskip("ipywidgets")
    from crystalkit.widgets.chooser import model_chooser

    form = model_chooser(_table())
    assert "crystalkit-chooser" in form._dom_classes
    first = form.advice
    form.controls["task"].value = "de_novo"
    assert form.advice.family != first.family or form.advice.published_code != first.published_code
    form.controls["disorder"].value = True
    assert form.advice.family.startswith("none")
    assert "ordered" in form.children[0].children[1].value
    assert isinstance(form.advice.evidence, pd.DataFrame)
    assert all(isinstance(v, (Interval, type(None))) for v in form.advice.evidence.get("match@1", []))
