"""``crystalkit train`` and ``crystalkit sample`` end to end on a tiny CSV."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from models_helpers import perovskites
from pymatgen.core import Composition

from crystalkit.cli import main
from crystalkit.data import read_structure_csv, write_structure_csv

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    structures = perovskites()
    path = tmp_path_factory.mktemp("data") / "train.csv"
    properties = pd.DataFrame({"heat_ref": [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]})
    write_structure_csv(path, structures, [f"p{i}" for i in range(len(structures))], properties)
    return path


TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "8", "--quiet", "--threads", "1"]


@pytest.mark.parametrize("family", ["diffusion", "flow"])
def test_train_then_sample(family, csv_file, tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    assert main(["train", "--family", family, "--data", str(csv_file), "--val", str(csv_file), "--steps", "6",
                 "--out", str(checkpoint), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "trained 6 steps" in printed and "device: cpu" in printed and checkpoint.is_file()

    samples = tmp_path / "samples.csv"
    assert main(["sample", "--checkpoint", str(checkpoint), "--compositions", str(csv_file), "--samples", "2",
                 "--steps", "3", "--out", str(samples), "--quiet"]) == 0
    assert "structures/s" in capsys.readouterr().out
    structures, table = read_structure_csv(samples, check=False)
    targets, target_table = read_structure_csv(csv_file)
    assert len(structures) == 2 * len(targets)
    assert table["material_id"].tolist() == [m for m in target_table["material_id"] for _ in range(2)]
    for i, structure in enumerate(structures):
        assert structure.composition == Composition(targets[i // 2].composition)


def test_resume_and_conditioning(csv_file, tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    common = ["train", "--family", "flow", "--data", str(csv_file), "--out", str(checkpoint),
              "--condition", "heat_ref", *TINY]
    assert main([*common, "--steps", "4"]) == 0
    assert main([*common, "--steps", "8", "--resume"]) == 0
    assert "trained 8 steps" in capsys.readouterr().out
    samples = tmp_path / "guided.csv"
    assert main(["sample", "--checkpoint", str(checkpoint), "--compositions", str(csv_file), "--samples", "1",
                 "--steps", "2", "--condition", "0.5", "--guidance", "1.0", "--out", str(samples), "--quiet"]) == 0


def test_bad_input_gives_a_one_line_error(csv_file, tmp_path, capsys):
    assert main(["train", "--family", "flow", "--data", str(tmp_path / "missing.csv"), "--steps", "2",
                 "--out", str(tmp_path / "m.pt")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert main(["train", "--family", "flow", "--data", str(csv_file), "--out", str(tmp_path / "m.pt")]) == 2
    assert "budget" in capsys.readouterr().err
    assert main(["train", "--family", "flow", "--data", str(csv_file), "--steps", "2", "--condition", "nope",
                 "--out", str(tmp_path / "m.pt")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "none.pt"), "--compositions", str(csv_file),
                 "--out", str(tmp_path / "s.csv")]) == 2
    assert "No checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--family", "gan", "--data", str(csv_file), "--steps", "2", "--out", str(tmp_path / "m.pt")])
