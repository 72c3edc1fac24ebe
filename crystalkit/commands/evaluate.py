"""``crystalkit evaluate``: score generated crystals from CSV files and print a table.

CSP (default)::

    crystalkit evaluate --generated samples.csv --targets test.csv [--k 20] [--validity published]
                        [--oxidation-states smact14|icsd24]

De novo::

    crystalkit evaluate --task dng --generated samples.csv --targets test.csv [--train train.csv] [--dataset mp_20]

Both files use the upstream benchmark CSV format (CDVAE / DiffCSP): an
unnamed index column, ``material_id``, ``cif`` and any other columns. For
CSP, samples are paired with targets through ``material_id``; several rows
with the same id are that target's k samples, in file order. A sample whose
CIF cannot be read counts as a failed sample (never matched) and is
reported; a target without samples counts as not matched and is reported.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from crystalkit.errors import CrystalInputError

__all__ = ["read_samples_csv", "register", "run"]


_EPILOG = """examples:
  crystalkit evaluate --generated samples.csv --targets test.csv --k 20
  crystalkit evaluate --task dng --generated samples.csv --targets test.csv --train train.csv --dataset mp_20

CSV format (CDVAE / DiffCSP): an unnamed index column, material_id, cif. For CSP, rows of samples.csv
with the same material_id are that target's k samples."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` parser."""
    parser = subparsers.add_parser(
        "evaluate",
        help="CSP match rate / RMSE or de novo metrics from CSV files",
        description="Score generated crystals from CSV files and print a table.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOG,
    )
    parser.add_argument("--generated", required=True, type=Path, help="CSV of generated crystals")
    parser.add_argument("--targets", required=True, type=Path, help="CSV of targets (CSP) or reference set (dng)")
    parser.add_argument("--task", choices=("csp", "dng"), default="csp", help="csp (default) or dng (de novo)")
    parser.add_argument("--k", type=int, default=None,
                        help="CSP: use the first K samples of each target (default: all of them)")
    parser.add_argument("--validity", choices=("published", "structural", "none"), default="published",
                        help="CSP validity rule (default: published = CDVAE/DiffCSP)")
    parser.add_argument("--oxidation-states", choices=("smact14", "icsd24"), default="smact14",
                        help="SMACT oxidation-state list of the charge test (default: smact14, as the published "
                             "protocol; icsd24: SMACT 3+'s default list)")
    parser.add_argument("--strict", action="store_true",
                        help="CSP: also report the match rate at pymatgen's stricter default tolerances")
    parser.add_argument("--train", type=Path, default=None, help="dng: training CSV for novelty")
    parser.add_argument("--dataset", default=None, help="dng: perov_5 | carbon_24 | mp_20 (coverage cut-offs)")
    parser.add_argument("--jobs", type=int, default=-1, help="worker processes (default -1: all cores)")
    parser.add_argument("--per-target", type=Path, default=None, help="write one row per target/crystal to this CSV")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print; returns the exit status."""
    if args.k is not None and args.k < 1:
        raise CrystalInputError(f"--k must be at least 1, got {args.k}.")
    progress = False if args.quiet else None
    if args.task == "csp":
        summary, frame = _evaluate_csp(args, progress)
    else:
        summary, frame = _evaluate_dng(args, progress)
    if args.per_target is not None:
        frame.to_csv(args.per_target, index=False)
        summary["per_target_csv"] = str(args.per_target)
    if args.json:
        print(json.dumps(summary, indent=2, default=_jsonable))
    else:
        print(format_table(summary, title=f"crystalkit evaluate ({args.task})"))
    return 0


def _evaluate_csp(args, progress):
    from crystalkit.metrics import STRICT_MATCHER, csp_metrics

    targets, target_frame = _read_reference(args.targets)
    samples, sample_frame, sample_errors = read_samples_csv(args.generated)
    target_ids = _ids(target_frame, args.targets)
    if len(set(target_ids)) != len(target_ids):
        raise CrystalInputError(f"{args.targets}: material_id values repeat; each target needs a unique id.")
    grouped: dict[str, list] = {material_id: [] for material_id in target_ids}
    unknown = []
    for material_id, structure in zip(_ids(sample_frame, args.generated), samples):
        grouped.get(material_id, unknown).append(structure)
    if unknown:
        raise CrystalInputError(
            f"{len(unknown)} rows of {args.generated} have a material_id that is not in {args.targets}: "
            "are the two files from the same split?")
    without = sum(1 for material_id in target_ids if not grouped[material_id])
    predicted = [(grouped[m][: args.k] if args.k else grouped[m]) or [None] for m in target_ids]
    k = args.k or max(len(p) for p in predicted)
    result = csp_metrics(predicted, targets, k=k, validity=args.validity, n_jobs=args.jobs, progress=progress,
                         oxidation_states=args.oxidation_states)
    summary = {
        "targets": len(targets),
        "sample rows": len(samples),
        "unreadable samples": len(sample_errors),
        "targets without samples": without,
        "k": result.k,
        "validity": result.validity,
        "oxidation states": result.oxidation_states,
        "target must be valid": result.require_valid_target,
        "tolerances": "stol={stol} ltol={ltol} angle_tol={angle_tol}".format(**result.matcher),
        "match rate (%)": 100 * result.match_rate,
        "RMSE": result.rmse,
        "matched": result.n_matched,
        "matcher errors": result.n_errors,
    }
    if args.strict:
        strict = csp_metrics(predicted, targets, k=k, validity=args.validity, matcher=STRICT_MATCHER,
                             n_jobs=args.jobs, progress=progress, oxidation_states=args.oxidation_states)
        summary["strict tolerances"] = "stol={stol} ltol={ltol} angle_tol={angle_tol}".format(**strict.matcher)
        summary["match rate strict (%)"] = 100 * strict.match_rate
        summary["RMSE strict"] = strict.rmse
    frame = result.to_frame()
    frame.insert(1, "material_id", target_ids)
    return summary, frame


def _evaluate_dng(args, progress):
    from crystalkit.metrics import dng_metrics

    generated, _, generated_errors = read_samples_csv(args.generated)
    reference, _ = _read_reference(args.targets)
    train = None if args.train is None else _read_reference(args.train)[0]
    result = dng_metrics(generated, reference, train=train, dataset=args.dataset, n_jobs=args.jobs,
                         progress=progress, oxidation_states=args.oxidation_states)
    summary = {"unreadable samples": len(generated_errors), "oxidation states": result.oxidation_states,
               **result.summary()}
    for number, note in enumerate(result.notes, 1):
        summary[f"note {number}"] = note
    return summary, result.to_frame()


def _read_reference(path: Path):
    """Targets, reference or training crystals: every CIF must be readable (the data module's reader)."""
    from crystalkit.data import read_structure_csv

    # check=False: a target with overlapping atoms is read, then judged invalid by the metrics.
    return read_structure_csv(path, check=False)


def read_samples_csv(path: Path | str):
    """Read generated samples in the upstream CSV format: ``(structures, frame, errors)``.

    ``structures[i]`` is the crystal of row ``i`` or ``None`` where its CIF
    could not be read; ``errors`` lists ``(row, message)`` for those rows.
    Crystals are not checked for overlapping atoms: judging them is the
    metrics' job.

    Raises:
        FileNotFoundError: no such file.
        CrystalInputError: the file has no ``cif`` column or no rows.
    """
    import pandas as pd

    from crystalkit.structures import structure_from_cif

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such CSV file: {path}")
    frame = pd.read_csv(path)
    frame = frame.loc[:, [c for c in frame.columns if not str(c).startswith("Unnamed")]]
    if "cif" not in frame.columns:
        raise CrystalInputError(f"{path} has no 'cif' column (columns: {list(frame.columns)}).")
    if len(frame) == 0:
        raise CrystalInputError(f"{path} holds no rows.")
    structures, errors = [], []
    for row, text in enumerate(frame["cif"]):
        try:
            structures.append(structure_from_cif(str(text) if isinstance(text, str) else "", check=False))
        except CrystalInputError as error:
            structures.append(None)
            errors.append((row, str(error)))
    return structures, frame, errors


def format_table(summary: dict, *, title: str = "") -> str:
    """A two-column text table of a summary dict (floats to 4 significant digits)."""
    width = max(len(str(key)) for key in summary)
    lines = [title, "-" * max(len(title), width + 14)] if title else []
    for key, value in summary.items():
        lines.append(f"{key!s:<{width}}  {_fmt(value)}")
    return "\n".join(lines)


def _ids(frame, path) -> list[str]:
    if "material_id" not in frame.columns:
        raise CrystalInputError(f"{path} has no 'material_id' column: it is needed to pair samples with targets.")
    return [str(value) for value in frame["material_id"]]


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)

