"""How much does SMACT's oxidation-state list move the validity figures of a benchmark file?

The published protocol (CDVAE, DiffCSP) ran with smact 2.2.1, whose default
oxidation states were the SMACT-14 list; SMACT 3+ defaults to the
ICSD-24 list. This script counts, on an upstream CSV file, the crystals
SMACT finds charge balanced under each list, and, on the seeded 90/10 split
that ``baselines_csp.py`` and ``csp.py`` use, the held-out targets whose
verdict differs. CSP samples carry their target's formula, so where no
scored target differs, every CSP figure of those scripts is the same under
both lists.

    python benchmarks/smact_lists.py --data ../shared/data/perov_5/val.csv
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="upstream CSV (material_id, cif)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 90/10 split (as baselines_csp.py)")
    parser.add_argument("--train-fraction", type=float, default=0.9)
    parser.add_argument("--first", type=int, default=200, help="also report the first N held-out targets")
    args = parser.parse_args()

    from crystalkit.data import read_structure_csv
    from crystalkit.metrics.validity import OXIDATION_STATE_LISTS, compositional_validity

    warnings.filterwarnings("ignore")  # pymatgen CIF chatter
    structures, _ = read_structure_csv(args.data, check=False)
    verdicts = {choice: np.array([compositional_validity(s, oxidation_states=choice) for s in structures])
                for choice in OXIDATION_STATE_LISTS}  # (N,) bool per list
    order = np.random.default_rng(args.seed).permutation(len(structures))
    held_out = order[round(args.train_fraction * len(structures)):]
    differ = verdicts["smact14"] != verdicts["icsd24"]
    report = {
        "file": args.data,
        "crystals": len(structures),
        **{f"balanced {choice}": int(v.sum()) for choice, v in verdicts.items()},
        "balanced under smact14 only": int((verdicts["smact14"] & ~verdicts["icsd24"]).sum()),
        "balanced under icsd24 only": int((verdicts["icsd24"] & ~verdicts["smact14"]).sum()),
        "differ (whole file)": sorted({structures[i].composition.reduced_formula for i in np.flatnonzero(differ)}),
        "held-out targets": len(held_out),
        "held-out targets that differ": int(differ[held_out].sum()),
        f"first {args.first} held-out targets that differ": int(differ[held_out[: args.first]].sum()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
