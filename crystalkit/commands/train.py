"""``crystalkit train``: train a diffusion or flow model on a structure CSV.

::

    crystalkit train --family diffusion|flow --data TRAIN.csv [--val VAL.csv] --minutes M --out CKPT

Any file in the upstream benchmark format works (unnamed index column,
``material_id``, ``cif``, property columns), e.g. Perov-5's ``train.csv`` or a
bundled teaching set. The checkpoint is written every few minutes and at the
end, and ``--resume`` continues a run from it (the budget counts the time and
steps already spent).

Several processes (CPU cores or GPUs) train one model together when the
command is started by ``torchrun``::

    torchrun --nproc_per_node=N -m crystalkit train --family flow --data TRAIN.csv --steps S --out CKPT

Each process takes ``1/N`` of every batch (``--batch-size`` must divide by N)
and PyTorch averages their gradients; rank 0 alone prints and writes the
checkpoint. See :mod:`crystalkit.models.distributed`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crystalkit.errors import CrystalInputError

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` parser."""
    parser = subparsers.add_parser(
        "train",
        help="train a diffusion or flow-matching model on a structure CSV",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


#: The families ``--family`` accepts (their classes: ``crystalkit.models.checkpoint.FAMILIES``; listed here so that
#: ``crystalkit --help`` need not import torch).
FAMILY_NAMES = ("diffusion", "flow", "vae", "gan", "nf", "lm", "gfn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", required=True, choices=FAMILY_NAMES, help="model family")
    parser.add_argument("--data", required=True, type=Path, help="training CSV (upstream format)")
    parser.add_argument("--val", type=Path, default=None, help="validation CSV (optional)")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget in minutes")
    parser.add_argument("--steps", type=int, default=None, help="step budget (instead of, or with, --minutes)")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file to write (e.g. model.pt)")
    parser.add_argument("--task", choices=("csp", "de_novo"), default="csp",
                        help="csp (default): structures for given compositions; de_novo: compositions too "
                             "(diffusion, vae, gan, lm, gfn)")
    parser.add_argument("--condition", default=None, metavar="COLUMN",
                        help="property column to condition on (classifier-free guidance), e.g. heat_ref")
    parser.add_argument("--hidden", type=int, default=None, help="backbone width (default 64)")
    parser.add_argument("--layers", type=int, default=None, help="backbone message-passing layers (default 4)")
    parser.add_argument("--max-length", type=int, default=None,
                        help="language model only: tokens it can hold (default 256; 24-atom cells need ~285)")
    parser.add_argument("--batch-size", type=int, default=None, help="crystals per step (default 128)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (default: GPU if any), cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    parser.add_argument("--resume", action="store_true", help="continue training from the --out checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_family(family: str, task: str, conditional: bool, hidden: int | None = None, layers: int | None = None,
                 max_length: int | None = None):
    """A fresh model of ``family`` with the kit's defaults (sizes optionally overridden).

    ``max_length`` is the language model's context in tokens; other families refuse it.
    """
    if max_length is not None and family != "lm":
        raise CrystalInputError("--max-length sets the language model's context: use it with --family lm only.")
    from crystalkit.models import BackboneConfig, Diffusion, DiffusionConfig, FlowConfig, FlowMatching, PeriodicBackbone

    sizes = {}
    if hidden is not None:
        sizes["hidden_dim"] = hidden
    if layers is not None:
        sizes["num_layers"] = layers
    if family in ("gan", "nf"):  # the one-shot families pick their own sizes (notebook 05)
        from crystalkit.models.gan import build_gan
        from crystalkit.models.normalizing_flow import build_normalizing_flow

        return (build_gan if family == "gan" else build_normalizing_flow)(task, conditional, hidden, layers)
    if family in ("lm", "gfn"):  # the sequential families pick their own sizes (notebook 08)
        from crystalkit.models.gflownet import build_gflownet
        from crystalkit.models.language import build_language_model

        if family == "lm":
            return build_language_model(task, conditional, hidden, layers, max_length=max_length)
        return build_gflownet(task, conditional, hidden, layers)
    net = PeriodicBackbone(BackboneConfig(**sizes))
    if family == "diffusion":
        return Diffusion(net, DiffusionConfig(task=task, conditional=conditional))
    if family == "flow":
        if task != "csp":
            raise CrystalInputError("--family flow supports --task csp only; use --family diffusion for de novo.")
        return FlowMatching(net, FlowConfig(conditional=conditional))
    if family == "vae":
        from crystalkit.models.vae import VAE, VAEConfig

        if conditional:
            raise CrystalInputError("--family vae is unconditional: drop --condition (steer it in its latent "
                                    "space, notebook 04).")
        return VAE(net, VAEConfig(task=task))
    raise CrystalInputError(f"Unknown family {family!r}; choose one of {', '.join(FAMILY_NAMES)}.")


def run(args: argparse.Namespace) -> int:
    """Train and save; returns the exit status. Under torchrun: join the process group first, leave it at the end."""
    import os

    from crystalkit.models import distributed

    if args.minutes is None and args.steps is None:
        raise CrystalInputError("Give a budget: --minutes M and/or --steps N.")
    if not distributed.launched_by_torchrun():
        return _train(args, distributed.Ranks(), None)
    if args.batch_size is not None:  # refused before any process group is started (nothing can hang)
        distributed.check_batch_size(args.batch_size, int(os.environ["WORLD_SIZE"]))
    ranks, device = distributed.init_from_environment(args.device)
    try:
        return _train(args, ranks, device)
    finally:
        distributed.shutdown()


def _train(args: argparse.Namespace, ranks, device) -> int:
    """Read the data, build (or reload) the model, train, report; ``device`` None: from ``--device``."""
    import time

    import torch

    from crystalkit.data import TensorCrystalDataset
    from crystalkit.models import TrainConfig, build_model, read_checkpoint, train
    from crystalkit.models.training import pick_device

    say = print if ranks.is_main else _silent  # one process speaks for all
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device) if device is None else device
    started = time.perf_counter()
    train_set = TensorCrystalDataset.from_csv(args.data, label=args.condition)
    val_set = None if args.val is None else TensorCrystalDataset.from_csv(args.val, label=args.condition)
    load_seconds = time.perf_counter() - started
    say(f"data: {len(train_set)} training crystals from {args.data}"
        + ("" if val_set is None else f", {len(val_set)} validation crystals from {args.val}")
        + f" (read in {load_seconds:.1f} s)")
    if args.resume:
        model = build_model(read_checkpoint(args.out)["model_config"])
        if model.family != args.family:
            raise CrystalInputError(f"{args.out} holds a {model.family} model, not {args.family}.")
    else:
        torch.manual_seed(args.seed)  # the same initial weights for the same --seed (and on every rank)
        model = build_family(args.family, args.task, args.condition is not None, args.hidden, args.layers,
                             args.max_length)
    options = {"max_minutes": args.minutes, "max_steps": args.steps, "seed": args.seed, "device": str(device),
               "checkpoint_path": str(args.out), "progress": not args.quiet and ranks.is_main}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.lr is not None:
        options["learning_rate"] = args.lr
    config = TrainConfig(**options)
    parameters = sum(p.numel() for p in model.parameters())
    say(f"model: {args.family} ({model.config.task}), {parameters:,} parameters; device: {_describe(device)}"
        + (f"; {ranks.world_size} processes, {config.batch_size // ranks.world_size} crystals each per step"
           if ranks.active else ""))
    result = train(model, train_set, val_set, config, resume_from=args.out if args.resume else None)
    last = result.history["train"][-1] if result.history["train"] else {}
    say(f"trained {result.steps} steps in {result.seconds:.1f} s ({result.steps_per_second:.1f} steps/s) "
        f"on {result.device}; last training loss {last.get('loss', float('nan')):.4f}"
        + (f", validation loss {result.final_losses['loss']:.4f}" if result.final_losses else ""))
    say(f"checkpoint: {result.checkpoint}")
    return 0


def _silent(*args, **kwargs) -> None:
    """The ``print`` of ranks other than 0."""


def _describe(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
