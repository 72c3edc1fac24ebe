"""benchmarks/denovo.py: one result per family, written as it is scored, and a rerun carries on where it stopped."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_denovo_benchmark_scores_each_route_and_resumes(tmp_path, capsys, benchmark_script):
    benchmark = benchmark_script("denovo")
    out = tmp_path / "results.json"
    common = ["--dataset", "perovskites", "--max-steps", "2", "--samples", "4", "--sun-samples", "0",
              "--workdir", str(tmp_path / "runs"), "--out", str(out)]
    benchmark.main(["--families", "template", "nf", *common])
    results = json.loads(out.read_text())
    assert set(results) == {"template", "nf"}
    assert results["nf"]["route"] == "composition first" and results["nf"]["task"] == "csp"
    assert results["nf"]["steps"] == 2 and results["nf"]["n_generated"] == 4
    assert results["template"]["novel"] == 0.0  # it copies training crystals
    assert all(0.0 <= r["valid"] <= 1.0 and r["structures_per_second"] > 0 for r in results.values())
    capsys.readouterr()
    benchmark.main(["--families", "template", "nf", *common])  # everything scored: nothing is redone
    assert capsys.readouterr().out.count("already scored") == 2
    assert json.loads(out.read_text()) == results
    rescored = tmp_path / "rescored.json"
    reuse = [*common[:-1], str(rescored), "--reuse-checkpoints"]
    benchmark.main(["--families", "nf", *reuse])  # the kept model and its record, scored again without training
    assert "reused" in capsys.readouterr().out
    again = json.loads(rescored.read_text())["nf"]
    assert {k: again[k] for k in ("steps", "train_cpu_seconds", "valid", "novel")} == {
        k: results["nf"][k] for k in ("steps", "train_cpu_seconds", "valid", "novel")}  # same model, same seed
    benchmark.main(["--table", *common])
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 4 and table[2].startswith("| template") and "| composition first | 2 steps" in table[3]
