"""Saving and loading trained models safely.

A PyTorch checkpoint written with ``torch.save`` is a pickle, and unpickling a
file can run arbitrary code. So a kit checkpoint holds only what
``torch.load(..., weights_only=True)`` accepts: tensors, and plain dicts,
lists, strings and numbers. The model's configuration is stored as a plain
dict and the model is rebuilt from it by an explicit table of families, never
by importing a class named in the file.

A checkpoint holds::

    format, version         what the file is
    model_config            {"family": ..., "backbone": {...}, "process": {...}}
    state_dict              the raw weights (and buffers: data statistics)
    ema_state_dict          the exponential moving average of the weights
    optimizer_state_dict    to resume training exactly
    step, seconds           optimizer steps and training time so far
    history                 loss curves: {"train": [{...}, ...], "val": [...]}
    train_config            the TrainConfig used, as a dict
    rng_state               the CPU random state, to resume the same batch sequence
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import torch

from crystalkit.errors import CrystalInputError
from crystalkit.models.diffusion import Diffusion
from crystalkit.models.flow import FlowMatching
from crystalkit.models.gan import GAN
from crystalkit.models.generator import CrystalGenerator
from crystalkit.models.gflownet import GFlowNet
from crystalkit.models.language import CrystalLanguageModel
from crystalkit.models.normalizing_flow import NormalizingFlow
from crystalkit.models.vae import VAE

__all__ = ["FAMILIES", "build_model", "save_checkpoint", "read_checkpoint", "load_checkpoint"]

#: Model families a checkpoint may name. Adding a family means adding it here.
FAMILIES: dict[str, type[CrystalGenerator]] = {
    "diffusion": Diffusion, "flow": FlowMatching, "vae": VAE, "gan": GAN, "nf": NormalizingFlow,
    "lm": CrystalLanguageModel, "gfn": GFlowNet,
}

_FORMAT = "crystalkit-checkpoint"
_VERSION = 1


def build_model(config: dict) -> CrystalGenerator:
    """An untrained model from a plain config dict (as made by ``model.to_config()``).

    Raises:
        CrystalInputError: the family is unknown or the config is malformed.
    """
    family = config.get("family") if isinstance(config, dict) else None
    if family not in FAMILIES:
        raise CrystalInputError(f"Unknown model family {family!r}; the kit knows {sorted(FAMILIES)}.")
    try:
        return FAMILIES[family].from_config(config)
    except TypeError as error:  # an unexpected or missing config field
        raise CrystalInputError(f"The {family} model config does not fit this version of the kit: {error}") from error


def save_checkpoint(
    path: str | Path,
    model: CrystalGenerator,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    ema_state: dict[str, torch.Tensor] | None = None,
    step: int = 0,
    seconds: float = 0.0,
    history: dict | None = None,
    train_config: dict | None = None,
) -> Path:
    """Write a checkpoint (atomically: a crash mid-write never leaves half a file).

    Args:
        path: where to write (``.pt`` by convention); parent folders are created.
        model: a kit model (``Diffusion`` or ``FlowMatching``).
        optimizer: its optimizer, to resume training.
        ema_state: the averaged weights (``ExponentialMovingAverage.state_dict()``).
        step, seconds: training progress so far.
        history: the loss history.
        train_config: the training settings as a plain dict.
    """
    if not isinstance(model, CrystalGenerator):
        raise CrystalInputError(f"Only kit models can be checkpointed, got {type(model).__name__}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "version": _VERSION,
        "model_config": model.to_config(),
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "ema_state_dict": None if ema_state is None else {k: v.detach().cpu() for k, v in ema_state.items()},
        "optimizer_state_dict": None if optimizer is None else optimizer.state_dict(),
        "step": int(step),
        "seconds": float(seconds),
        "history": history or {"train": [], "val": []},
        "train_config": train_config,
        "rng_state": torch.get_rng_state(),
    }
    temporary = path.with_name(path.name + ".partial")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, read with ``weights_only=True`` (no arbitrary code can run).

    Raises:
        FileNotFoundError: no file at ``path``.
        CrystalInputError: the file is not a kit checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. Train one with `crystalkit train ... --out {path}`.")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a foreign file
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # unpickling refusals, truncated files, not a torch file
        # torch's own message runs to a page of advice about weights_only=False, which is exactly what
        # must not be done with an untrusted file: say in one sentence what is wrong instead.
        raise CrystalInputError(
            f"{path} is not a readable crystalkit checkpoint: {_why_unreadable(path, error)}; "
            "use a file written by `crystalkit train` or save_checkpoint."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CrystalInputError(f"{path} is not a crystalkit checkpoint (no '{_FORMAT}' marker).")
    if payload.get("version", 0) > _VERSION:
        raise CrystalInputError(f"{path} was written by a newer crystalkit (format {payload['version']}); upgrade.")
    return payload


def _why_unreadable(path: Path, error: Exception) -> str:
    """A one-line cause for a file ``torch.load(weights_only=True)`` refused (its own message is a page long)."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if not head:
        return "the file is empty"
    if head != b"PK" and not head.startswith(b"\x80"):  # torch writes a zip archive (older versions: a pickle)
        return "the file is not in PyTorch's format (neither a zip archive nor a pickle)"
    text = str(error)
    forbidden = re.search(r"GLOBAL (\S+) was not an allowed global", text)
    if forbidden:
        return (f"it holds a Python object ({forbidden.group(1)}), not only tensors and plain values, "
                "and the kit never unpickles objects because that can run arbitrary code")
    if "WeightsUnpickler error:" in text:
        detail = _first_sentence(text.split("WeightsUnpickler error:", 1)[1])
        return f"it is a pickle of something other than tensors and plain values (torch's safe loader: {detail})"
    return f"torch could not read it, so it is probably cut short or corrupted ({_first_sentence(text)})"


def _first_sentence(text: str) -> str:
    """The first sentence of the first non-empty line of an error message, without its full stop."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "no details")
    return line.split(". ", 1)[0].rstrip(".")


def load_checkpoint(
    path: str | Path, *, device: str | torch.device = "cpu", weights: str = "ema"
) -> tuple[CrystalGenerator, dict]:
    """Rebuild a trained model from a checkpoint.

    Args:
        path: the checkpoint file.
        device: where to put the model.
        weights: ``"ema"`` (the averaged weights, which sample better; the
            default) or ``"raw"`` (the optimizer's last weights).

    Returns:
        ``(model, checkpoint)``: the model in eval mode, and the raw checkpoint
        dict (history, step, seconds, configs).
    """
    if weights not in ("ema", "raw"):
        raise CrystalInputError(f"weights must be 'ema' or 'raw', got {weights!r}.")
    payload = read_checkpoint(path)
    model = build_model(payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    if weights == "ema" and payload.get("ema_state_dict"):
        with torch.no_grad():
            parameters = dict(model.named_parameters())
            for name, value in payload["ema_state_dict"].items():
                parameters[name].copy_(value)
    return model.to(device).eval(), payload
