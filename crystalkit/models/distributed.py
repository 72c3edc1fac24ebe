"""Training in several processes at once, with PyTorch's own distributed engine.

``torchrun --nproc_per_node=N -m crystalkit train ...`` starts N copies of the
same program. Each copy (a **rank**, numbered 0 to N - 1) holds a full copy
of the model and of the data, and they cooperate on every step:

1. every rank draws the *same* random batch of ``batch_size`` crystals (same
   generator, same seed) and keeps its own ``1/N`` share of it (`random_shard`);
2. each rank computes the loss and its gradient on its share;
3. `DistributedDataParallel` (DDP) averages the gradients of all ranks
   during the backward pass (an *all-reduce*), so every rank ends up with the
   gradient of the whole batch, takes the same optimizer step and keeps
   exactly the same weights as the others.

So N processes train the same model as one process with the same batch size,
each doing ``1/N`` of the arithmetic. What has to be agreed, because ranks
run at slightly different speeds, is *when to stop*: a time budget is read on
each rank's clock, so the fraction spent is all-reduced (the largest wins,
`agreed_progress`) and every rank stops at the same step with the same
learning rate. One rank (rank 0) does everything that should happen once:
validation, checkpoints, printing, callbacks.

Noise (the diffusion time, the flow's prior draw ...) should differ between
ranks, or the N shares would see correlated noise: each rank seeds PyTorch
with ``seed + rank`` (`noise_seed`), while the batch generator keeps ``seed``.

This module holds those small pieces; :func:`crystalkit.models.train` calls
them when a process group is running, and the ``crystalkit train`` command
starts and stops the group (`init_from_environment`, `shutdown`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from crystalkit.data.dense import DenseCrystals
from crystalkit.data.tensor_dataset import TensorCrystalDataset
from crystalkit.errors import CrystalInputError

__all__ = [
    "LossModule",
    "Ranks",
    "agreed_flag",
    "agreed_progress",
    "barrier",
    "check_batch_size",
    "current_ranks",
    "device_for_rank",
    "init_from_environment",
    "launched_by_torchrun",
    "mean_across_ranks",
    "needs_unused_parameter_search",
    "noise_seed",
    "random_shard",
    "shutdown",
    "wrap",
]


@dataclass(frozen=True)
class Ranks:
    """Who this process is: its ``rank`` among ``world_size`` processes, and its GPU index on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 does what must happen once: validate, save, print."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """More than one process: gradients, progress and stop flags must be shared."""
        return self.world_size > 1


# ------------------------------------------------------------ start and stop
def launched_by_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``torchrun`` (``python -m torch.distributed.run``) started this process.

    torchrun tells each copy who it is through environment variables:
    ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, and where rank 0 listens
    (``MASTER_ADDR``, ``MASTER_PORT``).
    """
    environ = os.environ if environ is None else environ
    return "RANK" in environ and "WORLD_SIZE" in environ


def _ranks_from_environment(environ: Mapping[str, str]) -> Ranks:
    try:
        ranks = Ranks(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", "0")))
    except (KeyError, ValueError) as error:
        raise CrystalInputError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers set by torchrun ({error}).") from error
    if not 0 <= ranks.rank < ranks.world_size:
        raise CrystalInputError(f"RANK={ranks.rank} is not below WORLD_SIZE={ranks.world_size}.")
    return ranks


def device_for_rank(device: str, ranks: Ranks) -> torch.device:
    """The device one rank trains on: the CPU, or the GPU ``cuda:LOCAL_RANK`` (one GPU per process).

    ``device`` is the ``--device`` option: ``auto`` (a GPU when there is one), ``cpu`` or ``cuda``; a
    fixed index such as ``cuda:1`` cannot be shared by N processes and is refused.
    """
    device = str(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return torch.device("cpu")
    if device != "cuda":
        raise CrystalInputError(f"Under torchrun, --device must be auto, cpu or cuda (each rank then takes "
                                f"cuda:LOCAL_RANK), not {device!r}.")
    if not torch.cuda.is_available():
        raise CrystalInputError("--device cuda was asked for, but PyTorch sees no CUDA GPU; use cpu or auto.")
    if ranks.local_rank >= torch.cuda.device_count():
        raise CrystalInputError(f"LOCAL_RANK={ranks.local_rank} but this machine has {torch.cuda.device_count()} "
                                "GPU(s): start at most one process per GPU (--nproc_per_node).")
    return torch.device("cuda", ranks.local_rank)


def init_from_environment(device: str = "auto") -> tuple[Ranks, torch.device]:
    """Join the process group torchrun prepared; returns who this process is and its device.

    The **backend** is the library that moves tensors between processes:
    ``nccl`` between NVIDIA GPUs, ``gloo`` between CPU processes.
    """
    ranks = _ranks_from_environment(os.environ)
    chosen = device_for_rank(device, ranks)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo",
                                rank=ranks.rank, world_size=ranks.world_size)
    return ranks, chosen


def shutdown() -> None:
    """Leave the process group (every rank, at the end), so the program exits cleanly."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current_ranks() -> Ranks:
    """This process's place in the running process group; ``Ranks()`` (one process) when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


# ------------------------------------------------------------ batches and noise
def check_batch_size(batch_size: int, world_size: int) -> None:
    """Refuse a batch that does not split evenly: DDP *averages* the ranks' gradients, which equals the
    gradient of the whole batch only when every rank's share has the same size."""
    if world_size > 1 and batch_size % world_size:
        raise CrystalInputError(f"batch_size={batch_size} does not split evenly over {world_size} processes; "
                                f"choose a multiple of {world_size} (e.g. {world_size * max(1, batch_size // world_size)}).")


def noise_seed(seed: int, ranks: Ranks) -> int:
    """The seed of this rank's noise: ``seed + rank``, so the ranks draw independent noise (rank 0 draws
    what a one-process run would)."""
    return seed + ranks.rank


def random_shard(data: TensorCrystalDataset, batch_size: int, generator: torch.Generator,
                 ranks: Ranks) -> DenseCrystals:
    """This rank's share of the random batch that every rank draws.

    All ranks hold a generator with the same seed, so they draw the same
    ``batch_size`` row numbers, in the same way as
    ``TensorCrystalDataset.random_batch`` does; rank ``r`` keeps the ``r``-th
    of ``world_size`` equal slices. Together the shares are exactly the batch a
    single process would draw, and the averaged gradient is that batch's.
    """
    rows = torch.randint(len(data), (batch_size,), generator=generator, device="cpu")
    share = batch_size // ranks.world_size
    return data.batch(rows[ranks.rank * share:(ranks.rank + 1) * share].to(data.device))


# ------------------------------------------------------------ the model
class LossModule(nn.Module):
    """A model whose ``forward`` is the kit model's ``loss``.

    DDP prepares its gradient averaging inside its own ``forward`` call; the
    kit's models are trained through ``model.loss(batch)``, which DDP would not
    see. Wrapping ``loss`` as a ``forward`` puts it where DDP looks.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: DenseCrystals) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


#: Families where some weights get no gradient on some steps, and why. DDP must then search the graph for
#: them every step (``find_unused_parameters=True``), or it waits forever for their gradients.
UNUSED_PARAMETERS = {
    "gan": "the generator sits out the critic-only steps (n_critic)",
    "nf": "the shared backbone's time embedding is never used by the one-shot flow",
}
#: Families checked to use every weight on every step: no search needed (it costs a graph walk per step).
ALL_PARAMETERS_USED = ("diffusion", "flow", "vae", "lm", "gfn")


def needs_unused_parameter_search(model: nn.Module) -> bool:
    """Whether DDP must look for weights without a gradient (see `UNUSED_PARAMETERS`); unknown models: yes."""
    return getattr(model, "family", None) not in ALL_PARAMETERS_USED


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``LossModule(model)`` inside DDP: calling it returns ``model.loss(batch)`` and its backward averages
    the gradients over all ranks.

    DDP copies rank 0's weights and buffers to the other ranks when it is
    built, so every rank starts from the same point. ``broadcast_buffers=False``:
    the buffers (data statistics) are fitted on the same data on every rank and
    never change in training, so copying them again before each step would be
    wasted traffic.
    """
    return nn.parallel.DistributedDataParallel(
        LossModule(model), device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=needs_unused_parameter_search(model), **_no_buffer_sync_before_forward())


def _no_buffer_sync_before_forward() -> dict[str, bool]:
    """The option that turns off the buffer copy before each forward: ``forward_sync_buffers`` in recent
    PyTorch, ``broadcast_buffers`` (now deprecated) before it."""
    parameters = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers" if "forward_sync_buffers" in parameters else "broadcast_buffers": False}


# ------------------------------------------------------------ agreeing
def _all_reduce(values: list[float], op, device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def agreed_progress(progress: float, device: torch.device) -> float:
    """The largest fraction of the budget spent on any rank.

    Each rank reads its own clock, and the ranks drift apart by a few
    milliseconds; if each stopped on its own reading, one rank could start a
    step the others never join (and wait forever), and the learning rates,
    which follow the progress, would differ. Taking the maximum is the same
    number everywhere, and stops as soon as the slowest clock says so.
    """
    return _all_reduce([progress], dist.ReduceOp.MAX, device)[0]


def agreed_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any (a stop asked for by rank 0's callbacks)."""
    return _all_reduce([float(flag)], dist.ReduceOp.MAX, device)[0] > 0


def mean_across_ranks(values: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The ranks' values averaged, key by key: the logged loss is then that of the whole batch."""
    keys = list(values)  # the same order on every rank: the same model made them
    tensor = torch.stack([torch.as_tensor(values[key], dtype=torch.float64, device=device) for key in keys])
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= dist.get_world_size()
    return dict(zip(keys, tensor.unbind()))


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written the checkpoint)."""
    dist.barrier()
