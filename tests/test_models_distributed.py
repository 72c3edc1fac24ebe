"""Training in several processes (``torchrun``, gloo on the CPU) against training in one.

The multi-process runs start through ``python -m torch.distributed.run`` (torchrun) as subprocesses; the
worker they run is this very file (see ``__main__`` at the bottom), so its code is checked like the tests'.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from crystalkit.data import TensorCrystalDataset, write_structure_csv
from crystalkit.errors import CrystalInputError
from crystalkit.metrics.examples import toy_perovskites
from crystalkit.models import distributed

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "16", "--layers", "1", "--threads", "1", "--quiet"]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _torchrun(*arguments: str, processes: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free port of its own) with ``processes`` ranks."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               *arguments]
    return subprocess.run(command, check=False, cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=timeout)


def _python(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], check=False, cwd=ROOT, env=_environment(),
                          capture_output=True, text=True, timeout=timeout)


def _dataset() -> TensorCrystalDataset:
    return TensorCrystalDataset.from_structures(toy_perovskites(24, seed=3))


# ------------------------------------------------------------ a model without noise
class NoiselessModel(nn.Module):
    """A kit-shaped model whose loss draws no noise: a small net guesses each cell's volume per atom from
    its lattice vectors. One process and N processes on shares of the same batch must then agree exactly."""

    family = "noiseless"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(9, 16), nn.Tanh(), nn.Linear(16, 1))
        self.batch_sizes: list[int] = []  # what each call of loss saw

    def fit_data_statistics(self, data) -> None:
        pass

    def loss(self, batch) -> dict[str, torch.Tensor]:
        self.batch_sizes.append(len(batch))
        lattice = batch.lattice.float()
        target = torch.linalg.det(lattice).abs() / batch.mask.sum(1) / 60.0
        guess = self.net(lattice.flatten(1) / 4.0).squeeze(1)
        loss = ((guess - target) ** 2).mean()  # a mean over crystals: equal shares average to the whole batch's
        return {"loss": loss, "bias": (guess - target).mean().detach()}


def _train_noiseless(out: Path, minutes: float | None) -> None:
    """Worker: train `NoiselessModel` (as one process, or as one rank under torchrun) and save what came out."""
    from crystalkit.models import TrainConfig, train

    torch.set_num_threads(1)
    if distributed.launched_by_torchrun():
        distributed.init_from_environment("cpu")
    ranks = distributed.current_ranks()
    torch.manual_seed(0)
    model = NoiselessModel()
    with torch.no_grad():  # a different start on rank 1: DDP must copy rank 0's weights to it
        for parameter in model.parameters():
            parameter.add_(float(ranks.rank))
    budget = {"max_steps": None, "max_minutes": minutes} if minutes else {"max_steps": 8, "max_minutes": None}
    config = TrainConfig(**budget, batch_size=8, learning_rate=1e-2, warmup_steps=2, log_every=3, device="cpu",
                         progress=False, seed=5)
    result = train(model, _dataset(), config=config)
    torch.save({"ema": model.state_dict(), "steps": result.steps, "history": result.history,
                "batch_sizes": model.batch_sizes},
               out.with_name(f"{out.stem}-rank{ranks.rank}.pt"))
    distributed.shutdown()


FAMILIES = {"diffusion": ("csp", False, 16, 1), "flow": ("csp", False, 16, 1), "vae": ("csp", False, 16, 1),
            "gan": ("csp", False, 16, 1), "nf": ("csp", False, 16, 1), "lm": ("csp", False, 16, 1),
            "gfn": ("de_novo", True, 16, None)}


def _train_every_family(out: Path) -> None:
    """Worker: a few steps of every family in two processes; each rank saves its weights before and after."""
    from crystalkit.commands.train import build_family
    from crystalkit.models import TrainConfig, train

    torch.set_num_threads(1)
    distributed.init_from_environment("cpu")
    ranks = distributed.current_ranks()
    structures = toy_perovskites(24, seed=3)
    data = TensorCrystalDataset.from_structures(structures, labels=[-0.1 * i for i in range(len(structures))])
    saved = {}
    for family, options in FAMILIES.items():
        torch.manual_seed(ranks.rank)  # different starts: DDP copies rank 0's
        model = build_family(family, *options)
        # 6 steps: the GAN's generator sits out steps 2-5 (n_critic = 5) and DDP must not wait for its gradients
        config = TrainConfig(max_steps=6, max_minutes=None, batch_size=8, warmup_steps=1, device="cpu",
                             progress=False)
        train(model, data, config=config)
        saved[family] = {name: value.clone() for name, value in model.state_dict().items()}
    torch.save(saved, out.with_name(f"{out.stem}-rank{ranks.rank}.pt"))
    distributed.shutdown()


@pytest.mark.slow
def test_every_family_trains_in_two_processes_with_equal_weights(tmp_path):
    two = _torchrun(__file__, "families", str(tmp_path / "families"))
    assert two.returncode == 0, two.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"families-rank{r}.pt", weights_only=True) for r in (0, 1))
    assert sorted(rank0) == sorted(FAMILIES)
    for family, weights in rank0.items():
        for name, weight in weights.items():
            assert torch.equal(rank1[family][name], weight), (family, name)


@pytest.mark.slow
def test_two_ranks_on_shares_equal_one_process_on_the_batch(tmp_path):
    one = _python(__file__, "noiseless", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = _torchrun(__file__, "noiseless", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    alone = torch.load(tmp_path / "one-rank0.pt", weights_only=True)
    rank0, rank1 = (torch.load(tmp_path / f"two-rank{r}.pt", weights_only=True) for r in (0, 1))
    assert alone["steps"] == rank0["steps"] == rank1["steps"] == 8
    assert alone["batch_sizes"] == [8] * 8 and rank0["batch_sizes"] == rank1["batch_sizes"] == [4] * 8  # shares
    for name, weight in alone["ema"].items():
        assert torch.equal(rank0["ema"][name], rank1["ema"][name]), name  # the ranks never drift apart
        assert torch.allclose(rank0["ema"][name], weight, rtol=1e-5, atol=1e-6), name
    assert not torch.allclose(alone["ema"]["net.2.bias"], NoiselessModel().net[2].bias)  # it did train
    losses = [[row["loss"] for row in run["history"]["train"]] for run in (alone, rank0, rank1)]
    assert losses[1] == losses[2] and torch.allclose(torch.tensor(losses[0]), torch.tensor(losses[1]), rtol=1e-5)


@pytest.mark.slow
def test_a_time_budget_stops_every_rank_at_the_same_step(tmp_path):
    two = _torchrun(__file__, "noiseless", str(tmp_path / "timed"), "0.01")
    assert two.returncode == 0, two.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"timed-rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["steps"] == rank1["steps"] > 0
    for name, weight in rank0["ema"].items():
        assert torch.equal(rank1["ema"][name], weight), name


# ------------------------------------------------------------ the command end to end
@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    structures = toy_perovskites(24, seed=3)
    write_structure_csv(path, structures, [f"toy{i}" for i in range(len(structures))])
    return path


def _weights(state: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    return torch.cat([state[name].flatten().double() for name in names])


@pytest.mark.slow
def test_torchrun_trains_flow_with_one_checkpoint_writer(tiny_csv, tmp_path):
    from crystalkit.commands.train import build_family
    from crystalkit.models import read_checkpoint

    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    common = ["train", "--family", "flow", "--data", str(tiny_csv), "--steps", "30", "--batch-size", "16", *TINY]
    two = _torchrun("-m", "crystalkit", *common, "--out", str(tmp_path / "two" / "model.pt"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("trained 30 steps") == 1 and "2 processes, 8 crystals each" in two.stdout  # rank 0 only
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["model.pt"]
    checkpoint = read_checkpoint(tmp_path / "two" / "model.pt")  # the kit's loader: torch.load(weights_only=True)
    assert checkpoint["step"] == 30 and checkpoint["model_config"]["family"] == "flow"

    one = _python("-m", "crystalkit", *common, "--out", str(tmp_path / "one" / "model.pt"))
    assert one.returncode == 0, one.stderr[-3000:]
    # Same start (--seed 0), same batches, different noise on rank 1: the two runs move the weights alike,
    # not identically. Compare the moves from the start (the command seeds torch before building the model).
    torch.manual_seed(0)
    start = build_family("flow", "csp", False, 16, 1).state_dict()
    names = [name for name, _ in build_family("flow", "csp", False, 16, 1).named_parameters()]
    moved_alone = _weights(read_checkpoint(tmp_path / "one" / "model.pt")["state_dict"], names) - _weights(start, names)
    moved_together = _weights(checkpoint["state_dict"], names) - _weights(start, names)
    assert 0.75 < moved_together.norm() / moved_alone.norm() < 1.33, (moved_alone.norm(), moved_together.norm())
    assert torch.nn.functional.cosine_similarity(moved_alone, moved_together, dim=0) > 0.6


@pytest.mark.slow
def test_torchrun_resumes_a_run_where_it_stopped(tiny_csv, tmp_path):
    """Stopped after 30 steps and resumed under torchrun to 60: the step count, the clock and the history
    (a row every 25 steps) carry on from the checkpoint, and rank 0 alone rewrites it."""
    from crystalkit.models import read_checkpoint

    out = tmp_path / "model.pt"
    common = ["train", "--family", "flow", "--data", str(tiny_csv), "--batch-size", "16", "--out", str(out), *TINY]
    first = _torchrun("-m", "crystalkit", *common, "--steps", "30")
    assert first.returncode == 0, first.stderr[-3000:]
    before = read_checkpoint(out)
    second = _torchrun("-m", "crystalkit", *common, "--steps", "60", "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count("trained 60 steps") == 1  # the count goes on from 30, printed by rank 0 only
    after = read_checkpoint(out)
    assert (before["step"], after["step"]) == (30, 60)
    assert after["seconds"] > before["seconds"]  # the budget counts the time of both runs
    old = [row["step"] for row in before["history"]["train"]]
    new = [row["step"] for row in after["history"]["train"]]
    assert old == [25] and new == [25, 50]
    moved = [name for name, value in after["state_dict"].items() if not torch.equal(value, before["state_dict"][name])]
    assert moved, "the resumed run did not change the weights"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".pt"] == ["model.pt"]


@pytest.mark.slow
def test_a_batch_that_does_not_split_evenly_is_refused(tiny_csv, tmp_path):
    two = _torchrun("-m", "crystalkit", "train", "--family", "flow", "--data", str(tiny_csv), "--steps", "2",
                    "--batch-size", "7", "--out", str(tmp_path / "model.pt"), *TINY)
    assert two.returncode != 0
    assert "batch_size=7 does not split evenly over 2 processes" in two.stderr
    assert not (tmp_path / "model.pt").exists()


# ------------------------------------------------------------ the pieces, in one process
def test_check_batch_size():
    distributed.check_batch_size(8, 2)
    distributed.check_batch_size(7, 1)
    with pytest.raises(CrystalInputError, match="multiple of 4"):
        distributed.check_batch_size(6, 4)


def test_the_shares_make_up_the_batch_one_process_draws():
    data = _dataset()
    whole = data.random_batch(12, torch.Generator().manual_seed(9))
    shares = [distributed.random_shard(data, 12, torch.Generator().manual_seed(9), distributed.Ranks(r, 3))
              for r in range(3)]
    assert all(len(share) == 4 for share in shares)
    assert torch.equal(torch.cat([share.lattice for share in shares]), whole.lattice)
    assert torch.equal(torch.cat([share.types for share in shares]), whole.types)


def test_ranks_from_the_environment():
    assert distributed.launched_by_torchrun({"RANK": "1", "WORLD_SIZE": "2"})
    assert not distributed.launched_by_torchrun({})
    assert distributed.current_ranks() == distributed.Ranks()  # no process group here
    assert distributed.noise_seed(10, distributed.Ranks(3, 4)) == 13
    with pytest.raises(CrystalInputError, match="cuda:LOCAL_RANK"):
        distributed.device_for_rank("cuda:1", distributed.Ranks(0, 2))
    assert distributed.device_for_rank("cpu", distributed.Ranks(1, 2)) == torch.device("cpu")


def test_unused_parameter_search_where_families_skip_weights():
    from crystalkit.commands.train import build_family

    assert distributed.needs_unused_parameter_search(build_family("gan", "csp", False, 16, 1))
    assert not distributed.needs_unused_parameter_search(build_family("flow", "csp", False, 16, 1))
    assert distributed.needs_unused_parameter_search(NoiselessModel())  # unknown: search, to be safe


if __name__ == "__main__":  # the workers the torchrun tests start: noiseless OUT [MINUTES], or families OUT
    mode, out, *rest = sys.argv[1:]
    if mode == "families":
        _train_every_family(Path(out))
    else:
        _train_noiseless(Path(out), float(rest[0]) if rest else None)
