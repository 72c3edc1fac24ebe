"""Property-conditioned generation: ask a conditional model for crystals near a target value.

The shipped de novo diffusion model (``perovskites-diffusion-denovo-formation-energy``)
learned ``p(crystal | E_f)`` and ``p(crystal)`` in one network; classifier-free
guidance (Ho & Salimans 2022) with scale ``w`` samples from the sharpened

    score_w(x) = score(x | y) + w * (score(x | y) - score(x))
              = score(x) + (1 + w) * grad log p_w(y | x),

so ``w`` is how hard the target ``y`` pulls (``w = 0``: plain conditional sampling).

A model can only be asked for what it has seen: a target outside the range of
its training labels is an extrapolation its condition embedding never
learned, so :func:`check_target` refuses it and says the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crystalkit.design.funnel import Candidate
from crystalkit.errors import CrystalInputError

__all__ = ["LabelRange", "check_target", "conditioned_candidates", "label_range", "pretrained_label_range"]


@dataclass(frozen=True)
class LabelRange:
    """The training labels' range: the targets a conditional model may be asked for."""

    name: str
    low: float
    high: float
    unit: str = ""

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.name} from {self.low:.3f} to {self.high:.3f}{unit}"


def label_range(values: Sequence[float], name: str = "label", unit: str = "") -> LabelRange:
    """The smallest and largest finite training label.

    Raises:
        CrystalInputError: no finite values.
    """
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        raise CrystalInputError(f"No finite {name} values to take a range from.")
    return LabelRange(name, float(finite.min()), float(finite.max()), unit)


def pretrained_label_range(model) -> LabelRange:
    """The range of the label a shipped conditional model learned, read from the bundled set it trained on.

    Raises:
        CrystalInputError: the model has no ``pretrained_record`` or is not conditional.
    """
    from crystalkit.data import load_dataset

    record = getattr(model, "pretrained_record", None)
    if not record or not record.get("condition"):
        raise CrystalInputError("This is not a shipped conditional model; build the range with label_range(labels).")
    dataset = record["data"].split()[1]  # "bundled perovskites (train split; ...)" -> "perovskites"
    column = record["condition"]
    unit = "eV/atom" if column.endswith("per_atom") else ""
    return label_range(load_dataset(dataset, "train").labels[column], column, unit)


def check_target(target: float, allowed: LabelRange) -> float:
    """``target`` as a float if it lies in the training range, else a clear error naming the range."""
    try:
        value = float(target)
    except (TypeError, ValueError) as error:
        raise CrystalInputError(f"The target must be a number, got {target!r}.") from error
    if not np.isfinite(value) or not allowed.low <= value <= allowed.high:
        raise CrystalInputError(
            f"Target {value} lies outside the training range of {allowed}: the model never saw such a label, "
            "so guidance towards it is extrapolation. Choose a target inside the range."
        )
    return value


def conditioned_candidates(model, target: float, allowed: LabelRange, *, guidance_scale: float = 2.0,
                           num_samples: int = 8, seed: int = 0, num_steps: int | None = None) -> list[Candidate]:
    """De novo samples guided towards ``target``, as funnel candidates numbered 0, 1, ...

    Raises:
        CrystalInputError: target outside ``allowed``, a negative guidance scale, or ``num_samples`` < 1.
    """
    value = check_target(target, allowed)
    if not guidance_scale >= 0:
        raise CrystalInputError(f"The guidance scale must be >= 0 (0: no extra pull), got {guidance_scale}.")
    if not isinstance(num_samples, int) or num_samples < 1:
        raise CrystalInputError(f"num_samples must be a positive integer, got {num_samples!r}.")
    structures = model.sample(None, num_samples, seed=seed, num_steps=num_steps, condition=value,
                              guidance_scale=guidance_scale)[0]
    origin = f"{allowed.name} = {value:g}, w = {guidance_scale:g}"
    return [Candidate(i, structure, origin) for i, structure in enumerate(structures)]
