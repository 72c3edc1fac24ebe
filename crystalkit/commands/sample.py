"""``crystalkit sample``: sample structures from a trained checkpoint into a CSV.

::

    crystalkit sample --checkpoint CKPT --compositions SrTiO3 BaZrO3 --samples K --out SAMPLES.csv
    crystalkit sample --checkpoint CKPT --compositions FORMULAS.txt --samples K --out SAMPLES.csv
    crystalkit sample --checkpoint CKPT --compositions TARGETS.csv --samples K --out SAMPLES.csv

CSP: K structures for every composition asked for, with exactly its atom
count (``Sr2Ti2O6`` asks for a ten-atom cell). Compositions come as formulas
on the command line, as a text file with one formula a line (blank lines and
``#`` comments are skipped), or as a CSV of targets in the upstream format
(a ``cif`` column). Each sample keeps its target's id (the ``material_id`` of a
CSV row, else the formula as written), so
``crystalkit evaluate --generated SAMPLES.csv --targets TARGETS.csv`` scores
samples of a CSV's targets. De novo models: leave out ``--compositions`` to
get K new crystals. Language-model checkpoints (``--family lm``) write each
crystal token by token with constrained decoding, so every stream has the
composition asked for; GFlowNet checkpoints (``--family gfn``) only sample de novo.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:  # pymatgen is imported only when the command runs
    from pymatgen.core import Composition

__all__ = ["read_targets", "register", "run"]


_EPILOG = """examples:
  crystalkit sample --checkpoint model.pt --compositions SrTiO3 Ba2Zr2O6 --samples 5 --out samples.csv
  crystalkit sample --checkpoint model.pt --compositions formulas.txt --samples 5 --out samples.csv
  crystalkit sample --checkpoint model.pt --compositions test.csv --samples 20 --out samples.csv"""

_HOW_TO_ASK = ("Pass formulas (--compositions SrTiO3 BaZrO3), a text file with one formula a line, "
               "or a CSV of targets with a cif column.")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample`` parser."""
    parser = subparsers.add_parser(
        "sample",
        help="sample structures from a trained model checkpoint",
        description=__doc__.split("\n\n")[0],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint written by crystalkit train")
    parser.add_argument("--compositions", nargs="+", default=None, metavar="FORMULA_OR_FILE",
                        help="formulas (SrTiO3 BaZrO3), a text file with one formula a line, or a CSV of targets "
                             "with a cif column (upstream format); omit for de novo models")
    parser.add_argument("--samples", type=int, default=1, help="structures per target (de novo: in total)")
    parser.add_argument("--out", required=True, type=Path, help="CSV to write (upstream format)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--solver", choices=("euler", "heun"), default=None,
                        help="flow only: ODE solver (default: the model's, euler); heun costs two calls a step")
    parser.add_argument("--time-power", type=float, default=None,
                        help="flow only: time grid t_i = 1 - (1 - i/n)^p (default: the model's, 1 = uniform)")
    parser.add_argument("--coord-anneal", type=float, default=None,
                        help="flow only: coordinate velocity factor 1 + a t (default: the model's, 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=2048, help="crystals sampled together (default 2048)")
    parser.add_argument("--condition", type=float, default=None, help="property value to aim for (conditional models)")
    parser.add_argument("--guidance", type=float, default=0.0, help="classifier-free guidance scale (default 0)")
    parser.add_argument("--weights", choices=("ema", "raw"), default="ema", help="EMA (default) or raw weights")
    parser.add_argument("--device", default="auto", help="auto (default: GPU if any), cpu, cuda ...")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Sample and write the CSV; returns the exit status."""
    import time

    import pandas as pd
    import torch

    from crystalkit.data import write_structure_csv
    from crystalkit.models import load_checkpoint
    from crystalkit.models.training import pick_device

    if args.samples < 1:
        raise CrystalInputError(f"--samples must be at least 1, got {args.samples}.")
    # Read the targets before the model: a typo in a formula fails in a second, not after loading.
    compositions, target_ids = (None, None) if args.compositions is None else read_targets(args.compositions)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    model, checkpoint = load_checkpoint(args.checkpoint, device=device, weights=args.weights)
    _set_flow_sampler(model, args)
    print(f"model: {model.family} ({model.config.task}) trained {checkpoint['step']} steps "
          f"({checkpoint['seconds'] / 60:.1f} min); device: {device}")
    if compositions is None:
        ids = [f"sample-{i}" for i in range(args.samples)]
    else:
        ids = [target_id for target_id in target_ids for _ in range(args.samples)]
    started = time.perf_counter()
    numbers = [i % args.samples for i in range(len(ids))] if compositions is not None else list(range(len(ids)))
    if model.family in ("lm", "gfn"):  # sequential families: no sampler steps, no CrystalBatch
        structures, ids, numbers, how = _sample_sequential(model, compositions, ids, numbers, args)
    else:
        batch = model.sample_batch(compositions, args.samples, seed=args.seed, num_steps=args.steps,
                                   condition=args.condition, guidance_scale=args.guidance,
                                   batch_size=args.batch_size, progress=not args.quiet)
        steps = args.steps or model.config.num_steps
        structures, how = batch.to_structures(), f"with {steps} steps"
        if model.family == "flow":
            from crystalkit.models.flow import function_evaluations

            calls = function_evaluations(steps, model.config.solver)
            how = f"with {steps} {model.config.solver} steps ({calls} network calls)"
    seconds = time.perf_counter() - started
    extra = pd.DataFrame({"formula": [s.composition.formula.replace(" ", "") for s in structures], "sample": numbers})
    write_structure_csv(args.out, structures, ids, extra)
    print(f"sampled {len(structures)} structures {how} in {seconds:.1f} s "
          f"({len(structures) / max(seconds, 1e-9):.1f} structures/s) on {device}; wrote {args.out}")
    return 0


def _set_flow_sampler(model, args: argparse.Namespace) -> None:
    """Apply ``--solver``, ``--time-power`` and ``--coord-anneal`` to a flow model (refused for other families)."""
    chosen = {"solver": args.solver, "time_power": args.time_power, "coord_anneal": args.coord_anneal}
    given = [name for name, value in chosen.items() if value is not None]
    if not given:
        return
    if model.family != "flow":
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CrystalInputError(f"{flags} set the flow-matching sampler; this checkpoint holds a {model.family} model.")
    model.set_sampler(**chosen)


def _sample_sequential(model, compositions, ids: list[str], numbers: list[int], args: argparse.Namespace):
    """Sample a language model (CSP, constrained decoding) or a GFlowNet (de novo) through ``model.sample``.

    A language-model stream that still fails to parse is left out of the CSV and counted in the message.
    """
    if args.condition is not None or args.steps is not None:
        raise CrystalInputError(f"--family {model.family} checkpoints take neither --condition nor --steps: "
                                "drop them (the language model follows its prompt; the GFlowNet its temperature).")
    if model.family == "gfn" and compositions is not None:
        raise CrystalInputError("A GFlowNet checkpoint chooses its compositions itself: leave out --compositions "
                                "(crystalkit sample --checkpoint CKPT --samples K --out SAMPLES.csv), or in Python "
                                "call model.sample(None, K, temperature=T).")
    rows = model.sample(compositions, args.samples, seed=args.seed)
    flat = [structure for row in rows for structure in row]  # compositions in order, then samples
    kept = [k for k, structure in enumerate(flat) if structure is not None]
    how = ("by constrained decoding" + (f" ({len(flat) - len(kept)} streams did not parse, left out)"
                                         if len(kept) < len(flat) else "")) if model.family == "lm" else "(GFlowNet)"
    return [flat[k] for k in kept], [ids[k] for k in kept], [numbers[k] for k in kept], how


def read_targets(values: Sequence[str]) -> tuple[list[Composition], list[str]]:
    """The compositions that ``--compositions`` asks for, and an id for each.

    Each value is a formula (``SrTiO3``), a text file with one formula a line,
    or a CSV of targets in the upstream format (``.csv`` or ``.csv.gz``, with a
    ``cif`` column). A value is taken for a file when one exists at that path,
    or when it looks like a path (a folder separator, or an ending such as
    ``.txt``), so a mistyped file name is reported as missing, not as a formula.

    Returns:
        ``(compositions, ids)``: pymatgen compositions in the order given, and
        per composition its CSV ``material_id`` or the formula as written.

    Raises:
        FileNotFoundError: a value looks like a file that does not exist.
        CrystalInputError: a formula names an unknown element or cannot be read
            (a file's line number is given), or nothing was asked for.
    """
    from crystalkit.sampling import as_compositions

    compositions, ids = [], []
    for value in values:
        path = Path(value)
        if path.is_file() or re.search(r"[/\\]|\.[A-Za-z]\w*$", value):
            if not path.is_file():
                raise FileNotFoundError(f"No compositions file at {path}. {_HOW_TO_ASK}")
            read = _read_target_csv if value.lower().endswith((".csv", ".csv.gz")) else _read_formula_file
            found, found_ids = read(path)
        else:
            found, found_ids = as_compositions([value]), [value.strip()]
        compositions.extend(found)
        ids.extend(found_ids)
    if not compositions:
        raise CrystalInputError(f"--compositions named no composition to sample. {_HOW_TO_ASK}")
    return compositions, ids


def _read_target_csv(path: Path) -> tuple[list[Composition], list[str]]:
    """Compositions and material ids of the rows of an upstream-format CSV."""
    from crystalkit.data import read_structure_csv
    from crystalkit.sampling import as_compositions

    targets, table = read_structure_csv(path, check=False)
    return as_compositions([structure.composition for structure in targets]), [str(m) for m in table["material_id"]]


def _read_formula_file(path: Path) -> tuple[list[Composition], list[str]]:
    """Compositions of a text file with one formula a line (blank lines and ``#`` comments skipped)."""
    from crystalkit.sampling import as_compositions

    compositions, formulas = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        formula = line.split("#", 1)[0].strip()
        if not formula:
            continue
        try:
            compositions.extend(as_compositions([formula]))
        except CrystalInputError as error:
            raise CrystalInputError(f"{path}, line {number}: {error}") from None
        formulas.append(formula)
    if not formulas:
        raise CrystalInputError(
            f"{path} lists no formulas (blank lines and # comments are skipped): write one a line, like SrTiO3."
        )
    return compositions, formulas
