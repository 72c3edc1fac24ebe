"""One training loop for every model family, in plain PyTorch.

The loop is short on purpose, so the course can show it whole::

    start or resume the run                                    (_start, _resume)
    for each step, until the step or time budget is spent:
        pick the learning rate for this point of the budget    (learning_rate)
        slice a random batch from the tensor dataset           (no Python per crystal)
        loss = model.loss(batch)["loss"]; backward; clip; step (_train_step)
        update the moving average of the weights               (ExponentialMovingAverage)
        now and then: log, validate, call callbacks            (_log)
        and checkpoint
    validate and save the final weights                        (_finish)

Three choices make short budgets count, which matters on a laptop:

* the **learning-rate schedule** follows the budget: a short linear warm-up,
  then a cosine decay that reaches its floor exactly when the minutes (or
  steps) run out, whatever the machine's speed;
* an **exponential moving average** (EMA) of the weights is what validation,
  checkpoints and sampling use: it averages out the noise of the last few
  hundred steps and is better than the raw weights early in training;
* the data are **pre-collated tensors** (`TensorCrystalDataset`), on the GPU
  when there is one, so a step costs the network's arithmetic and little else.

The same loop trains in several processes (``torchrun --nproc_per_node=N``):
when a ``torch.distributed`` process group is running, each rank computes the
loss on its share of the batch and `DistributedDataParallel` averages the
gradients; the pieces, and why each is needed, are in
:mod:`crystalkit.models.distributed`. With one process nothing changes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from pymatgen.core import Structure

from crystalkit.data.dense import DenseCrystals
from crystalkit.data.tensor_dataset import TensorCrystalDataset
from crystalkit.errors import CrystalInputError
from crystalkit.models import distributed
from crystalkit.models.checkpoint import read_checkpoint, save_checkpoint
from crystalkit.models.generator import CrystalGenerator

__all__ = [
    "ExponentialMovingAverage",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "evaluate_loss",
    "learning_rate",
    "pick_device",
    "train",
]


@dataclass
class TrainConfig:
    """How to train; every budget and schedule choice in one place."""

    max_minutes: float | None = 5.0  # wall-clock budget (total, across resumes); the schedule follows it
    max_steps: int | None = None  # step budget instead of (or as well as) minutes; reproducible across machines
    batch_size: int = 128  # 128 small cells make a step of tens of ms on one CPU thread; larger suits a GPU
    learning_rate: float = 2e-3  # peak AdamW rate; these small LayerNorm'd nets learned fastest at 2e-3 (vs 1e-3)
    final_learning_rate_fraction: float = 0.05  # the cosine ends at 5% of the peak rather than 0: the EMA keeps up
    warmup_steps: int = 100  # ~1-2% of a 5-minute CPU run; lets Adam's moment estimates settle
    weight_decay: float = 0.0  # the data, not the weights, limit these small models in minutes-long runs
    grad_clip: float = 1.0  # caps rare huge gradients from nearly-clean wrapped-normal scores
    ema_decay: float = 0.999  # averages over ~1,000 steps, a fraction of even a short run
    seed: int = 0  # seeds batches and noise; runs with the same seed and step budget repeat exactly
    device: str = "auto"  # "auto": the GPU when there is one, else the CPU; or "cpu", "cuda", "cuda:1"
    log_every: int = 25  # steps between history rows and progress-bar updates (each costs a GPU sync)
    val_every: int = 250  # steps between validation losses
    val_crystals: int = 512  # crystals of the validation set used each time, with fixed noise: a steady curve
    checkpoint_path: str | None = None  # where to save; None keeps everything in memory
    checkpoint_every_minutes: float = 5.0  # periodic saves, so a killed run loses at most this much
    progress: bool = True  # show a progress bar with the loss

    def to_dict(self) -> dict:
        return asdict(self)


def learning_rate(step: int, progress: float, config: TrainConfig) -> float:
    """The learning rate at optimizer step ``step`` when a fraction ``progress`` of the budget is spent.

    Linear warm-up over ``warmup_steps``, times a cosine from 1 down to
    ``final_learning_rate_fraction`` as ``progress`` goes from 0 to 1. A pure
    function: the notebooks plot it.
    """
    warmup = min(1.0, (step + 1) / max(1, config.warmup_steps))
    floor = config.final_learning_rate_fraction
    cosine = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return config.learning_rate * warmup * cosine


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> the first CUDA GPU if there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CrystalInputError(f"device={device} was asked for, but PyTorch sees no CUDA GPU; use 'cpu' or 'auto'.")
    return device


class ExponentialMovingAverage:
    """A shadow copy of the weights, ``shadow <- decay * shadow + (1 - decay) * weights`` after each step.

    Early on the decay is lowered to ``(1 + n) / (10 + n)`` after ``n`` updates,
    so the average does not drag the random initial weights along.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999) -> None:
        if not 0 <= decay < 1:
            raise CrystalInputError(f"ema_decay must be in [0, 1), got {decay}.")
        self.decay = decay
        self.updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, parameter in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(parameter.detach(), 1 - decay)
        self.updates += 1

    @torch.no_grad()
    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the model's weights with the shadow ones (call twice to undo)."""
        for name, parameter in model.named_parameters():
            if name in self.shadow:
                saved = parameter.detach().clone()
                parameter.copy_(self.shadow[name])
                self.shadow[name].copy_(saved)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int = 0) -> None:
        for name, value in state.items():
            if name not in self.shadow:
                raise CrystalInputError(f"The EMA state has a weight {name!r} that the model lacks.")
            self.shadow[name].copy_(value)
        self.updates = updates


@dataclass
class TrainState:
    """What a callback sees after each logged step; set ``stop = True`` to end training early."""

    step: int
    seconds: float
    progress: float
    learning_rate: float
    losses: dict[str, float]
    val_losses: dict[str, float] | None
    model: CrystalGenerator
    optimizer: torch.optim.Optimizer
    ema: ExponentialMovingAverage
    history: dict
    config: TrainConfig
    stop: bool = False

    def save(self, path: str | Path) -> Path:
        """Save a checkpoint of the run as it is now (e.g. from a callback, at chosen times)."""
        return save_checkpoint(path, self.model, optimizer=self.optimizer, ema_state=self.ema.state_dict(),
                               step=self.step, seconds=self.seconds, history=self.history,
                               train_config=self.config.to_dict())


@dataclass
class TrainResult:
    """The outcome of :func:`train`. ``history["train"]`` and ``history["val"]`` are lists of dict rows
    (``step``, ``seconds``, ``loss`` and its parts, ``learning_rate``): ``pandas.DataFrame(rows)`` plots them."""

    history: dict
    steps: int
    seconds: float
    device: str
    checkpoint: str | None = None
    final_losses: dict[str, float] = field(default_factory=dict)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")


Callback = Callable[[TrainState], None]


def _as_dataset(data: TensorCrystalDataset | Sequence[Structure] | None, role: str) -> TensorCrystalDataset | None:
    if data is None or isinstance(data, TensorCrystalDataset):
        return data
    if isinstance(data, Sequence) and data and all(isinstance(s, Structure) for s in data):
        return TensorCrystalDataset.from_structures(data)
    raise CrystalInputError(
        f"{role} must be a TensorCrystalDataset or a non-empty list of pymatgen Structures, got {type(data).__name__}."
    )


@torch.no_grad()
def evaluate_loss(model: CrystalGenerator, data: TensorCrystalDataset, *, max_crystals: int = 512,
                  batch_size: int = 256, seed: int = 1234) -> dict[str, float]:
    """Mean losses over the first ``max_crystals`` of ``data``, with fixed noise (same ``seed``, same value)."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=data.device).manual_seed(seed)
    totals: dict[str, float] = {}
    count = 0
    limit = min(len(data), max_crystals)
    for start in range(0, limit, batch_size):
        batch = data.batch(slice(start, min(start + batch_size, limit)))
        losses = model.loss(batch, generator=generator)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + float(value) * len(batch)
        count += len(batch)
    model.train(was_training)
    return {key: value / count for key, value in totals.items()}


def train(
    model: CrystalGenerator,
    train_data: TensorCrystalDataset | Sequence[Structure],
    val_data: TensorCrystalDataset | Sequence[Structure] | None = None,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callback] = (),
    *,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train any kit model (``model.loss(batch)["loss"]``) until its step or time budget is spent.

    Args:
        model: a ``Diffusion`` or ``FlowMatching`` (anything with the same ``loss`` and
            ``fit_data_statistics`` methods).
        train_data: a `TensorCrystalDataset` or a list of structures.
        val_data: optional validation set; its loss (EMA weights, fixed noise) goes into the history.
        config: budgets, schedule, device, logging; see `TrainConfig`.
        callbacks: functions called with a `TrainState` after every logged step.
        resume_from: a checkpoint of this run to continue: weights, EMA, optimizer,
            step count, time spent and history are restored, and the budgets count
            the time and steps already spent.

    Returns:
        A `TrainResult`. The model is left on the training device holding its
        EMA weights (the ones to sample with); the raw weights are in the checkpoint.

    In a running ``torch.distributed`` process group (``torchrun``), every rank
    calls `train` alike: each trains on its share of every batch (``batch_size``
    must divide by the number of processes), the ranks agree on the budget spent
    and on stopping, and only rank 0 validates, calls the callbacks, shows the
    bar and writes checkpoints. Every rank keeps the same weights and the same
    EMA, so the model `train` leaves behind is the same on all of them.
    """
    config = config or TrainConfig()
    _check_budget(config)
    ranks = distributed.current_ranks()
    distributed.check_batch_size(config.batch_size, ranks.world_size)
    device = pick_device(config.device)
    train_set = _as_dataset(train_data, "train_data").to(device)
    val_set = _as_dataset(val_data, "val_data")
    val_set = None if val_set is None else val_set.to(device)
    run = _start(model, train_set, config, device, resume_from, ranks)
    batch_generator = torch.Generator().manual_seed(config.seed + run.step)  # the same on every rank
    bar = _progress_bar(model, run, device, show=ranks.is_main)
    run.clock_started = run.last_save = time.perf_counter()
    if val_set is not None and run.step == 0 and ranks.is_main:  # the starting point of the validation curve
        run.history["val"].append({"step": 0, "seconds": 0.0,
                                   **evaluate_loss(model, val_set, max_crystals=config.val_crystals)})
    try:
        while (progress := _progress(run, ranks, device)) < 1.0:
            current_lr = learning_rate(run.step, progress, config)
            _train_step(model, run, _draw_batch(train_set, config.batch_size, batch_generator, ranks), current_lr)
            validate = val_set is not None and run.step % config.val_every == 0
            if run.step % config.log_every == 0 or validate:
                state = _log(model, run, val_set if validate and ranks.is_main else None, current_lr, bar, ranks,
                             device)
                if ranks.is_main:
                    for callback in callbacks:
                        callback(state)
                if distributed.agreed_flag(state.stop, device) if ranks.active else state.stop:
                    break
            if (ranks.is_main and config.checkpoint_path
                    and time.perf_counter() - run.last_save > 60 * config.checkpoint_every_minutes):
                _save(model, run, run.seconds())
                run.last_save = time.perf_counter()
    finally:
        bar.close()
    return _finish(model, run, val_set if ranks.is_main else None, device, ranks)


# ------------------------------------------------------------ the loop's parts
@dataclass
class _Run:
    """What one call of `train` keeps between steps; resuming restores the first five fields."""

    config: TrainConfig
    optimizer: torch.optim.Optimizer
    ema: ExponentialMovingAverage
    step: int = 0  # optimizer steps so far, across resumes
    seconds_before: float = 0.0  # training time spent before this call (resumed runs)
    history: dict = field(default_factory=lambda: {"train": [], "val": []})
    clock_started: float = 0.0  # time.perf_counter() when this call's loop began
    last_save: float = 0.0  # time.perf_counter() of the last periodic checkpoint
    running: dict[str, torch.Tensor] = field(default_factory=dict)  # loss sums since the last log, on the device
    running_count: int = 0
    loss_of: Callable[[DenseCrystals], dict[str, torch.Tensor]] | None = None  # model.loss, or its DDP wrapper

    def seconds(self) -> float:
        """Training time so far, this call's and that of the runs it resumed."""
        return self.seconds_before + time.perf_counter() - self.clock_started

    def spent(self, seconds: float) -> float:
        """The fraction of the budget spent: the larger of the step and the time fractions."""
        fractions = [0.0]
        if self.config.max_steps is not None:
            fractions.append(self.step / self.config.max_steps)
        if self.config.max_minutes is not None:
            fractions.append(seconds / (60.0 * self.config.max_minutes))
        return max(fractions)


def _progress(run: _Run, ranks: distributed.Ranks, device: torch.device) -> float:
    """The fraction of the budget spent; with several processes, the largest of theirs (a time budget reads
    each rank's own clock; a step budget is the same everywhere and needs no agreeing)."""
    progress = run.spent(run.seconds())
    if ranks.active and run.config.max_minutes is not None:
        progress = distributed.agreed_progress(progress, device)
    return progress


def _draw_batch(train_set: TensorCrystalDataset, batch_size: int, generator: torch.Generator,
                ranks: distributed.Ranks) -> DenseCrystals:
    """A random batch; with several processes, this rank's share of the batch they all draw alike."""
    if ranks.active:
        return distributed.random_shard(train_set, batch_size, generator, ranks)
    return train_set.random_batch(batch_size, generator)


def _check_budget(config: TrainConfig) -> None:
    if config.max_steps is None and config.max_minutes is None:
        raise CrystalInputError("Give a budget: TrainConfig(max_minutes=...) and/or TrainConfig(max_steps=...).")
    if (config.max_steps is not None and config.max_steps < 1) or (config.max_minutes is not None
                                                                   and config.max_minutes <= 0):
        raise CrystalInputError(f"Budgets must be positive, got max_steps={config.max_steps}, "
                                f"max_minutes={config.max_minutes}.")
    if config.batch_size < 1:
        raise CrystalInputError(f"batch_size must be positive, got {config.batch_size}.")


def _start(
    model: CrystalGenerator, train_set: TensorCrystalDataset, config: TrainConfig, device: torch.device,
    resume_from: str | Path | None, ranks: distributed.Ranks,
) -> _Run:
    """Seed, move the model, build optimizer and EMA; then resume a checkpoint or fit the data statistics.

    With several processes the model is wrapped in DDP here, before the optimizer and the EMA see it: the
    wrapper copies rank 0's initial weights to every rank. The noise is seeded ``seed + rank``: rank 0 (and a
    one-process run) with ``seed`` itself."""
    torch.manual_seed(distributed.noise_seed(config.seed, ranks))
    model.to(device)
    model.train()
    loss_of = distributed.wrap(model, device) if ranks.active else model.loss  # DDP averages the gradients
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    run = _Run(config, optimizer, ExponentialMovingAverage(model, config.ema_decay), loss_of=loss_of)
    if resume_from is not None:
        _resume(model, run, resume_from, device, ranks)
    else:
        model.fit_data_statistics(train_set.crystals)
    return run


def _resume(model: CrystalGenerator, run: _Run, path: str | Path, device: torch.device,
            ranks: distributed.Ranks) -> None:
    """Load weights, optimizer, EMA, step, time and history of a checkpoint of this run."""
    checkpoint = read_checkpoint(path)
    if checkpoint["model_config"] != model.to_config():
        raise CrystalInputError(f"{path} holds a differently configured model; build the model from "
                                "its config (crystalkit.models.build_model) to resume it.")
    model.load_state_dict(checkpoint["state_dict"])
    model.to(device)
    if checkpoint["optimizer_state_dict"] is not None:
        run.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    run.step, run.seconds_before = checkpoint["step"], checkpoint["seconds"]
    if checkpoint["ema_state_dict"] is not None:
        run.ema.load_state_dict(checkpoint["ema_state_dict"], updates=run.step)
    run.history = checkpoint["history"]
    # a fresh but reproducible stream for the remaining steps (and one per rank)
    torch.manual_seed(distributed.noise_seed(run.config.seed + run.step, ranks))


def _train_step(model: CrystalGenerator, run: _Run, batch: DenseCrystals, lr: float) -> None:
    """One optimizer step at learning rate ``lr``: loss, backward, clip, step, EMA; the losses are summed.

    ``run.loss_of`` is ``model.loss``, or its DDP wrapper, whose backward also averages the gradients over the
    ranks.
    """
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    losses = run.loss_of(batch)
    run.optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), run.config.grad_clip)
    run.optimizer.step()
    run.ema.update(model)
    run.step += 1
    for key, value in losses.items():  # summed on the device; read back only when logging
        run.running[key] = run.running.get(key, 0.0) + value.detach()
    run.running_count += 1


def _log(
    model: CrystalGenerator, run: _Run, val_set: TensorCrystalDataset | None, lr: float, bar,
    ranks: distributed.Ranks, device: torch.device,
) -> TrainState:
    """A history row of the mean losses since the last log, a validation loss if ``val_set``, the bar updated.

    With several processes the losses are averaged over the ranks first (the whole batch's loss), so every
    rank logs, and checks for a broken loss, alike."""
    seconds = run.seconds()
    running = distributed.mean_across_ranks(run.running, device) if ranks.active else run.running
    means = {key: float(value) / run.running_count for key, value in running.items()}
    run.running, run.running_count = {}, 0
    if not math.isfinite(means["loss"]):
        raise FloatingPointError(
            f"The training loss became {means['loss']} at step {run.step}; lower TrainConfig.learning_rate "
            "or grad_clip, and check the data for broken cells."
        )
    run.history["train"].append({"step": run.step, "seconds": seconds, "learning_rate": lr, **means})
    val_losses = None
    if val_set is not None:
        val_losses = _ema_validation(model, run, val_set)
        run.history["val"].append({"step": run.step, "seconds": seconds, **val_losses})
    bar.set_postfix(step=run.step, loss=f"{means['loss']:.4f}", lr=f"{lr:.2e}",
                    **({"val": f"{val_losses['loss']:.4f}"} if val_losses else {}))
    bar.n = int(seconds) if run.config.max_steps is None else run.step
    bar.refresh()
    return TrainState(run.step, seconds, run.spent(seconds), lr, means, val_losses, model, run.optimizer, run.ema,
                      run.history, run.config)


def _ema_validation(model: CrystalGenerator, run: _Run, val_set: TensorCrystalDataset) -> dict[str, float]:
    """Validation losses of the EMA weights (swapped in and back out)."""
    run.ema.swap(model)
    losses = evaluate_loss(model, val_set, max_crystals=run.config.val_crystals)
    run.ema.swap(model)
    return losses


def _progress_bar(model: CrystalGenerator, run: _Run, device: torch.device, show: bool = True):
    """A tqdm bar over the budget: seconds when the budget is time, else steps (``show=False``: hidden)."""
    from tqdm.auto import tqdm

    config = run.config
    hidden = not (config.progress and show)
    if config.max_steps is None:
        return tqdm(total=int(60.0 * config.max_minutes), unit="s", initial=int(run.seconds_before),
                    disable=hidden, desc=f"training {model.family} on {device.type}")
    return tqdm(total=config.max_steps, unit="step", initial=run.step, disable=hidden,
                desc=f"training {model.family} on {device.type}")


def _finish(
    model: CrystalGenerator, run: _Run, val_set: TensorCrystalDataset | None, device: torch.device,
    ranks: distributed.Ranks,
) -> TrainResult:
    """Final validation and checkpoint (rank 0's); leave the model holding its EMA weights, in eval mode.

    With several processes the others wait until rank 0 has written the checkpoint, so that on every rank
    the file exists once `train` returns."""
    seconds = run.seconds()
    final_losses = {}
    if val_set is not None:
        final_losses = _ema_validation(model, run, val_set)
        if not run.history["val"] or run.history["val"][-1]["step"] != run.step:
            run.history["val"].append({"step": run.step, "seconds": seconds, **final_losses})
    checkpoint = None
    if run.config.checkpoint_path:
        checkpoint = str(_save(model, run, seconds) if ranks.is_main else Path(run.config.checkpoint_path))
    if ranks.active:
        distributed.barrier()
    run.ema.swap(model)  # leave the model holding the averaged weights
    model.eval()
    return TrainResult(history=run.history, steps=run.step, seconds=seconds, device=str(device),
                       checkpoint=checkpoint, final_losses=final_losses)


def _save(model: CrystalGenerator, run: _Run, seconds: float) -> Path:
    config = run.config
    return save_checkpoint(config.checkpoint_path, model, optimizer=run.optimizer, ema_state=run.ema.state_dict(),
                           step=run.step, seconds=seconds, history=run.history, train_config=config.to_dict())
