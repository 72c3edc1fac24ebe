"""The checkpoints shipped with the kit: small models trained on the bundled teaching sets.

Notebooks 06 and 07 load these in quick mode so that a learner sees good
samples in seconds instead of training first. Each was made by the kit's own
command (``crystalkit train``) on a bundled set, on a CPU, within a stated
budget; ``scripts/train_pretrained.py`` remakes all of them and rewrites
``pretrained/MANIFEST.json``, which records for each checkpoint:

* ``file`` and its ``sha256`` (checked on every load: a changed or truncated
  file is refused, not half-loaded);
* ``command``: the exact command that trained it, and ``budget`` (minutes,
  steps done, device, threads);
* ``data``: the bundled set and split it learned from, and ``condition``, the
  label column of a property-conditioned model.

Loading goes through :func:`~crystalkit.models.checkpoint.load_checkpoint`, so
it reads with ``torch.load(weights_only=True)``: nothing but tensors and plain
values can come out of the file.

    >>> from crystalkit.models.pretrained import load_pretrained
    >>> model = load_pretrained("perovskites-diffusion-csp")  # doctest: +SKIP
    >>> model.sample(["SrTiO3"], num_samples=3, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from crystalkit.errors import CrystalInputError
from crystalkit.models.checkpoint import load_checkpoint, read_checkpoint
from crystalkit.models.generator import CrystalGenerator

__all__ = [
    "PRETRAINED_DIR",
    "pretrained_manifest",
    "load_pretrained",
    "shipped_or_trained",
    "pretrained_path",
    "slim_checkpoint",
]

#: Where the shipped checkpoints and their manifest live (inside the package).
PRETRAINED_DIR = Path(__file__).with_name("pretrained")


def pretrained_manifest(directory: Path = PRETRAINED_DIR) -> dict[str, dict]:
    """Name -> record (file, sha256, command, budget, data) of every shipped checkpoint."""
    path = Path(directory) / "MANIFEST.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint manifest at {path}. Reinstall crystalkit, or remake the checkpoints with "
            "`python scripts/train_pretrained.py`."
        )
    return json.loads(path.read_text())


def pretrained_path(name: str, directory: Path = PRETRAINED_DIR) -> Path:
    """The checked file of the shipped checkpoint ``name`` (its sha256 must match the manifest).

    Raises:
        CrystalInputError: unknown name, or the file's sha256 differs from the manifest's.
        FileNotFoundError: the file is missing.
    """
    return _checked_path(name, _record(name, pretrained_manifest(directory)), directory)


def load_pretrained(
    name: str, *, device: str | torch.device = "cpu", directory: Path = PRETRAINED_DIR
) -> CrystalGenerator:
    """A shipped model, ready to sample (EMA weights, eval mode).

    Its training record is kept on the model as ``model.pretrained_record``
    (the manifest entry) and ``model.history`` (the loss history), so a
    notebook can show how it was made and plot how it learned.
    """
    record = _record(name, pretrained_manifest(directory))
    model, checkpoint = load_checkpoint(_checked_path(name, record, directory), device=device)
    model.pretrained_record = record
    model.history = checkpoint.get("history") or {"train": [], "val": []}
    return model


def shipped_or_trained(
    name: str,
    *,
    train_from_scratch: bool = False,
    train_structures=None,
    val_structures=None,
    minutes: float = 4.0,
    seed: int = 0,
    device: str = "auto",
) -> CrystalGenerator:
    """The shipped model ``name``, or a fresh model of the same kind trained here on ``train_structures``.

    This is the notebooks' switch between "look at a trained model now" and
    "watch it learn": both return a model with ``model.history`` (the loss
    curves) ready to sample. Training uses the kit's defaults and a budget of
    ``minutes``; only unconditional shipped models can be retrained this way.
    """
    if not train_from_scratch:
        return load_pretrained(name)
    from crystalkit.commands.train import build_family
    from crystalkit.models.training import TrainConfig, train

    record = _record(name, pretrained_manifest())
    if record["condition"]:
        raise CrystalInputError(f"{name} is conditioned on {record['condition']}; train it with `crystalkit train "
                                "--condition ...` on a labelled CSV instead.")
    if not train_structures:
        raise CrystalInputError("train_from_scratch=True needs train_structures (a list of pymatgen structures).")
    torch.manual_seed(seed)
    model = build_family(record["family"], record["task"], False)
    result = train(model, list(train_structures), list(val_structures) if val_structures else None,
                   TrainConfig(max_minutes=minutes, seed=seed, device=device))
    model.history = result.history
    return model.eval()


def _record(name: str, manifest: dict[str, dict]) -> dict:
    if name not in manifest:
        raise CrystalInputError(f"No shipped checkpoint called {name!r}; the kit ships {sorted(manifest)}.")
    return manifest[name]


def _checked_path(name: str, record: dict, directory: Path) -> Path:
    from crystalkit.data.public import sha256_of

    path = Path(directory) / record["file"]
    if not path.is_file():
        raise FileNotFoundError(f"The shipped checkpoint {name!r} should be at {path} but is missing; reinstall.")
    actual = sha256_of(path)
    if actual != record["sha256"]:
        raise CrystalInputError(
            f"{path} has sha256 {actual}, but the manifest says {record['sha256']}: the file was changed or "
            "damaged. Reinstall crystalkit or remake it with `python scripts/train_pretrained.py`."
        )
    return path


def slim_checkpoint(source: str | Path, destination: str | Path) -> Path:
    """Copy a checkpoint without what only resuming needs (optimizer moments, RNG state): half the size.

    The shipped files are made this way; they load and sample exactly like the
    originals but cannot continue training with the same optimizer state.
    """
    payload = read_checkpoint(source)
    if not payload.get("ema_state_dict"):
        raise CrystalInputError(f"{source} has no EMA weights; ship a checkpoint written by `crystalkit train`.")
    payload["optimizer_state_dict"] = None
    payload["rng_state"] = None
    # The EMA weights are what samples well: keep them as the one set of weights.
    state = dict(payload["state_dict"])
    state.update(payload["ema_state_dict"])
    payload["state_dict"] = state
    payload["ema_state_dict"] = None
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, destination)
    return destination
