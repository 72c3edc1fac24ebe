"""``crystalkit train`` and ``crystalkit sample`` end to end on a tiny CSV."""

from __future__ import annotations

import pickle
from fractions import Fraction

import pandas as pd
import pytest
import torch
from models_helpers import perovskites
from pymatgen.core import Composition

from crystalkit.cli import main
from crystalkit.data import read_structure_csv, write_structure_csv
from crystalkit.errors import CrystalInputError
from crystalkit.models import read_checkpoint

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
        main(["train", "--family", "autoencoder", "--data", str(csv_file), "--steps", "2", "--out", str(tmp_path / "m.pt")])


# --- crystalkit sample: what to sample, and bad checkpoints -----------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(csv_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.pt"
    assert main(["train", "--family", "flow", "--data", str(csv_file), "--steps", "3", "--out", str(path), *TINY]) == 0
    return path


def _sample(checkpoint, out, *compositions):
    return main(["sample", "--checkpoint", str(checkpoint), "--compositions", *compositions, "--samples", "2",
                 "--steps", "2", "--out", str(out), "--quiet"])


@pytest.mark.parametrize("route", ["formulas", "formula file", "csv"])
def test_sample_takes_formulas_a_formula_file_or_a_csv(route, checkpoint, csv_file, tmp_path):
    if route == "formulas":
        arguments, ids = ["SrTiO3", "Ba2Ti2O6"], ["SrTiO3", "Ba2Ti2O6"]
    elif route == "formula file":
        listing = tmp_path / "formulas.txt"
        listing.write_text("# targets for the test\nSrTiO3\n\n   \nNaCl  # rock salt\nK2Nb2O6\n")
        arguments, ids = [str(listing)], ["SrTiO3", "NaCl", "K2Nb2O6"]
    else:
        arguments, ids = [str(csv_file)], read_structure_csv(csv_file)[1]["material_id"].tolist()
    out = tmp_path / "samples.csv"
    assert _sample(checkpoint, out, *arguments) == 0
    structures, table = read_structure_csv(out, check=False)
    assert table["material_id"].tolist() == [target for target in ids for _ in range(2)]
    if route != "csv":  # the formula as written is the target: same elements and atom count
        assert [s.composition for s in structures] == [Composition(f) for f in ids for _ in range(2)]


def test_sample_explains_bad_compositions(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "s.csv")
    assert _sample(checkpoint, out, str(tmp_path / "missing.txt")) == 2
    assert "No compositions file at" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    assert _sample(checkpoint, out, str(empty)) == 2
    assert "lists no formulas" in capsys.readouterr().err
    assert _sample(checkpoint, out, "SrTiO3", "Xx2O3") == 2
    assert "names 'Xx', which is not a chemical element" in capsys.readouterr().err
    typo = tmp_path / "typo.txt"
    typo.write_text("SrTiO3\n# a comment\nSrtio3\n")
    assert _sample(checkpoint, out, str(typo)) == 2
    assert "typo.txt, line 3: Cannot read the formula 'Srtio3'" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def _junk_checkpoints(folder):
    """Files that are not checkpoints, each with the cause its error must give."""
    folder.mkdir()
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    (folder / "random.pt").write_bytes(bytes(noise.tolist()))
    (folder / "pickled.pt").write_bytes(pickle.dumps({"weights": Fraction(1, 3)}))  # plain pickle of an object
    (folder / "notes.pt").write_text("these are my notes, not a model\n")
    torch.save({"format": "crystalkit-checkpoint", "step": Fraction(1, 3)}, folder / "object.pt")
    return {
        folder / "random.pt": "not in PyTorch's format",
        folder / "pickled.pt": "a pickle of something other than tensors and plain values",
        folder / "notes.pt": "not in PyTorch's format",
        folder / "object.pt": "holds a Python object (fractions.Fraction)",
    }


def test_a_junk_checkpoint_gives_one_sentence(csv_file, tmp_path, capsys):
    for path, cause in _junk_checkpoints(tmp_path / "junk").items():
        assert main(["sample", "--checkpoint", str(path), "--compositions", str(csv_file),
                     "--out", str(tmp_path / "s.csv")]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and len(error) < 400, error  # not torch's page of advice
        assert f"{path} is not a readable crystalkit checkpoint: " in error and cause in error, error
        assert "weights_only" not in error and "Weights only load failed" not in error
        with pytest.raises(CrystalInputError) as caught:
            read_checkpoint(path)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback


def test_the_cli_offers_every_family_a_checkpoint_may_name():
    from crystalkit.commands.train import FAMILY_NAMES
    from crystalkit.models.checkpoint import FAMILIES

    assert set(FAMILY_NAMES) == set(FAMILIES)


def test_max_length_sizes_the_language_models_context(csv_file, tmp_path, capsys):
    checkpoint = tmp_path / "lm.pt"
    assert main(["train", "--family", "lm", "--data", str(csv_file), "--steps", "2", "--max-length", "300",
                 "--out", str(checkpoint), *TINY]) == 0
    assert read_checkpoint(checkpoint)["model_config"]["process"]["max_length"] == 300
    assert main(["train", "--family", "flow", "--data", str(csv_file), "--steps", "2", "--max-length", "300",
                 "--out", str(tmp_path / "flow.pt"), *TINY]) == 2
    assert "--family lm" in capsys.readouterr().err


def test_sample_chooses_the_flow_solver_and_refuses_it_for_other_families(checkpoint, csv_file, tmp_path, capsys):
    euler, heun = tmp_path / "euler.csv", tmp_path / "heun.csv"
    common = ["sample", "--checkpoint", str(checkpoint), "--compositions", "SrTiO3", "--samples", "2", "--steps", "3",
              "--quiet"]
    assert main([*common, "--out", str(euler)]) == 0
    assert "3 euler steps (3 network calls)" in capsys.readouterr().out
    assert main([*common, "--solver", "heun", "--time-power", "2", "--out", str(heun)]) == 0
    assert "3 heun steps (5 network calls)" in capsys.readouterr().out
    (first, *_), _ = read_structure_csv(euler, check=False)
    (second, *_), _ = read_structure_csv(heun, check=False)
    assert not (first.frac_coords == second.frac_coords).all()  # same prior draw, another integration
    assert main([*common, "--time-power", "0", "--out", str(heun)]) == 2
    assert "time_power" in capsys.readouterr().err
    lm = tmp_path / "lm.pt"
    assert main(["train", "--family", "lm", "--data", str(csv_file), "--steps", "1", "--out", str(lm), *TINY]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(lm), "--compositions", "SrTiO3", "--solver", "heun",
                 "--out", str(heun), "--quiet"]) == 2
    assert "--solver" in capsys.readouterr().err
