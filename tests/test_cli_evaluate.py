"""``crystalkit evaluate`` on small upstream-format CSV files written in the test."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from crystalkit.cli import build_parser, main
from crystalkit.commands.evaluate import read_samples_csv
from crystalkit.metrics.examples import cubic_perovskite, diamond, equivalent_copy, rattle, rock_salt
from crystalkit.structures import structure_to_cif


def _write(path, rows):
    """Upstream CSV: an unnamed index column, material_id, cif."""
    pd.DataFrame(rows, columns=["material_id", "cif"]).to_csv(path)
    return path


@pytest.fixture()
def files(tmp_path):
    targets = {"mp-1": rock_salt(), "mp-2": cubic_perovskite(), "mp-3": diamond()}
    target_csv = _write(tmp_path / "targets.csv", [(m, structure_to_cif(s)) for m, s in targets.items()])
    samples = [
        ("mp-1", structure_to_cif(rattle(cubic_perovskite(), 0.1, seed=0))),  # wrong formula first
        ("mp-1", structure_to_cif(equivalent_copy(rock_salt(), seed=1))),  # then right: matches at k=2 only
        ("mp-2", structure_to_cif(equivalent_copy(cubic_perovskite(), seed=2))),
        ("mp-2", "this is not a CIF"),  # unreadable: a failed sample
    ]  # mp-3 has no samples
    sample_csv = _write(tmp_path / "samples.csv", samples)
    return target_csv, sample_csv


def _run(capsys, *args):
    status = main(["evaluate", *map(str, args), "--jobs", "1", "--quiet"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
def test_csp_table(files, capsys):
    targets, samples = files
    status, out, _ = _run(capsys, "--generated", samples, "--targets", targets)
    assert status == 0
    assert "match rate (%)" in out and "66.67" in out  # mp-1 and mp-2 of three
    assert "targets without samples  1" in out and "unreadable samples       1" in out


def test_k_takes_the_first_samples_and_json(files, capsys):
    targets, samples = files
    status, out, _ = _run(capsys, "--generated", samples, "--targets", targets, "--k", "1", "--json")
    summary = json.loads(out)
    assert status == 0 and summary["k"] == 1 and summary["target must be valid"] is True
    assert summary["match rate (%)"] == pytest.approx(100 / 3)  # only mp-2's first sample matches


def test_per_target_csv_and_strict(files, capsys, tmp_path):
    targets, samples = files
    out_csv = tmp_path / "per_target.csv"
    status, out, _ = _run(capsys, "--generated", samples, "--targets", targets, "--strict", "--per-target", out_csv)
    frame = pd.read_csv(out_csv)
    assert status == 0 and "match rate strict (%)" in out
    assert list(frame["material_id"]) == ["mp-1", "mp-2", "mp-3"] and list(frame["matched"]) == [True, True, False]


def test_oxidation_states_option(tmp_path, capsys):
    cacdo3 = cubic_perovskite(a_site="Ca", b_site="Cd", anion="O")  # charge balanced under SMACT-14 only
    targets = _write(tmp_path / "t.csv", [("x-1", structure_to_cif(cacdo3))])
    samples = _write(tmp_path / "s.csv", [("x-1", structure_to_cif(equivalent_copy(cacdo3, seed=1)))])
    rates = {}
    for choice in ("smact14", "icsd24"):
        status, out, _ = _run(capsys, "--generated", samples, "--targets", targets, "--json",
                              "--oxidation-states", choice)
        summary = json.loads(out)
        assert status == 0 and summary["oxidation states"] == choice
        rates[choice] = summary["match rate (%)"]
    assert rates == {"smact14": 100.0, "icsd24": 0.0}
    status, out, _ = _run(capsys, "--generated", samples, "--targets", targets, "--json")
    assert json.loads(out)["oxidation states"] == "smact14"  # the published list by default


def test_dng_task(files, capsys):
    targets, samples = files
    status, out, _ = _run(capsys, "--task", "dng", "--generated", samples, "--targets", targets, "--train", targets,
                          "--dataset", "perov_5")
    assert status == 0 and "cov_recall" in out and "novel_rate" in out


def test_errors_are_one_line_with_status_2(files, capsys, tmp_path):
    targets, samples = files
    status, _, err = _run(capsys, "--generated", tmp_path / "missing.csv", "--targets", targets)
    assert status == 2 and "No such CSV file" in err
    stray = _write(tmp_path / "stray.csv", [("mp-9", structure_to_cif(diamond()))])
    status, _, err = _run(capsys, "--generated", stray, "--targets", targets)
    assert status == 2 and "not in" in err
    status, _, err = _run(capsys, "--generated", samples, "--targets", targets, "--k", "0")
    assert status == 2 and "--k" in err
    pd.DataFrame({"material_id": ["a"], "structure": ["x"]}).to_csv(tmp_path / "nocif.csv")
    status, _, err = _run(capsys, "--generated", tmp_path / "nocif.csv", "--targets", targets)
    assert status == 2 and "no 'cif' column" in err


def test_reader_keeps_unreadable_rows_as_none(files):
    _, samples = files
    structures, frame, errors = read_samples_csv(samples)
    assert len(structures) == len(frame) == 4 and structures[3] is None and errors[0][0] == 3
    assert "Unnamed: 0" not in frame.columns


def test_parser_lists_evaluate_and_no_command_prints_help(capsys):
    assert "evaluate" in build_parser().format_help()
    assert main([]) == 2
