"""Remake the checkpoints shipped in ``crystalkit/models/pretrained`` with the kit's own command.

Each entry below is one ``crystalkit train`` command on a bundled teaching set
with a wall-clock budget. The script runs the commands (one CPU thread each,
so two can share a 2-core machine: ``--only NAME``), slims each result
(:func:`crystalkit.models.pretrained.slim_checkpoint`: EMA weights only, no
optimizer state) and rewrites ``MANIFEST.json`` with the command, the budget
actually used, the final losses and the sha256 of every file.

Usage::

    python scripts/train_pretrained.py                    # train all, then write the manifest
    python scripts/train_pretrained.py --only perovskites-flow-csp
    python scripts/train_pretrained.py --manifest-only    # just re-slim and re-hash what was trained

Training is seeded but not bit-reproducible across machines (thread counts and
float summation order differ); sampling from a given checkpoint is.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = "crystalkit/data/bundled"

#: name -> (family, task, subset, condition column or None, minutes)
CHECKPOINTS = {
    "perovskites-diffusion-csp": ("diffusion", "csp", "perovskites", None, 4.0),
    "perovskites-flow-csp": ("flow", "csp", "perovskites", None, 4.0),
    "perovskites-diffusion-denovo-formation-energy": ("diffusion", "de_novo", "perovskites",
                                                      "formation_energy_per_atom", 6.0),
    "perovskites-gan-csp": ("gan", "csp", "perovskites", None, 5.0),  # notebook 05
    "perovskites-nf-csp": ("nf", "csp", "perovskites", None, 5.0),  # notebook 05
    "perovskites-vae-csp": ("vae", "csp", "perovskites", None, 4.0),
    "perovskites-lm-csp": ("lm", "csp", "perovskites", None, 5.0),  # notebook 08
    "perovskites-gfn-formation-energy": ("gfn", "de_novo", "perovskites", "formation_energy_per_atom", 3.0),
}


#: name -> optimizer steps. A wall-clock budget gives fewer steps on a busy machine; where a checkpoint has a
#: step budget, the command asks for those steps (what one idle CPU thread did in the minutes above) and keeps
#: the minutes only as a cap of ten times the budget.
STEP_BUDGETS = {
    "perovskites-diffusion-csp": 6000,
    "perovskites-flow-csp": 6000,
    "perovskites-diffusion-denovo-formation-energy": 8400,
    "perovskites-lm-csp": 400,  # ~0.7 s per 128-crystal step on one idle thread: about 5 minutes
    "perovskites-gan-csp": 800,  # notebook 05; each step differentiates the critic twice (gradient penalty)
    "perovskites-nf-csp": 1500,  # notebook 05
    "perovskites-vae-csp": 2000,  # notebook 04; ~1.5 diffusion steps each (encoder + denoiser), so ~2 idle minutes
}


def command_for(name: str, raw: Path) -> list[str]:
    family, task, subset, condition, minutes = CHECKPOINTS[name]
    budget = ["--minutes", f"{minutes:g}"]
    if name in STEP_BUDGETS:
        budget = ["--steps", str(STEP_BUDGETS[name]), "--minutes", f"{10 * minutes:g}"]
    command = ["crystalkit", "train", "--family", family, "--task", task,
               "--data", f"{BUNDLED}/{subset}/train.csv.gz", "--val", f"{BUNDLED}/{subset}/val.csv.gz",
               *budget, "--seed", "0", "--threads", "1", "--device", "cpu", "--quiet",
               "--out", str(raw)]
    if condition:
        command += ["--condition", condition]
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="train only these names")
    parser.add_argument("--workdir", type=Path, default=ROOT / "pretrained_runs", help="full (resumable) checkpoints")
    parser.add_argument("--manifest-only", action="store_true", help="skip training; slim, hash and list")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from crystalkit.data.public import sha256_of
    from crystalkit.models.checkpoint import read_checkpoint
    from crystalkit.models.pretrained import PRETRAINED_DIR, slim_checkpoint

    names = args.only or list(CHECKPOINTS)
    if not args.manifest_only:
        for name in names:
            raw = args.workdir / f"{name}.pt"
            command = command_for(name, raw)
            print("$", shlex.join(command), flush=True)
            subprocess.run([sys.executable, "-m", "crystalkit.cli", *command[1:]], cwd=ROOT, check=True)

    manifest_path = PRETRAINED_DIR / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for name in CHECKPOINTS:
        raw = args.workdir / f"{name}.pt"
        if not raw.is_file():
            continue
        shipped = slim_checkpoint(raw, PRETRAINED_DIR / f"{name}.pt")
        checkpoint = read_checkpoint(shipped)
        family, task, subset, condition, minutes = CHECKPOINTS[name]
        history = checkpoint["history"]
        last_val = history["val"][-1] if history.get("val") else {}
        manifest[name] = {
            "file": shipped.name,
            "sha256": sha256_of(shipped),
            "family": family,
            "task": task,
            "data": f"bundled {subset} (train split; val split for validation)",
            "condition": condition,
            "command": shlex.join(command_for(name, Path(f"{name}.pt"))),
            "budget": {"minutes": minutes, "step_budget": STEP_BUDGETS.get(name), "steps": checkpoint["step"],
                       "seconds": round(checkpoint["seconds"], 1),
                       "device": "cpu, 1 thread", "machine": platform.processor() or platform.machine()},
            "final_validation_loss": round(float(last_val.get("loss", float("nan"))), 4),
            "size_bytes": shipped.stat().st_size,
        }
        print(f"{name}: {checkpoint['step']} steps, {shipped.stat().st_size / 1e6:.2f} MB, "
              f"validation loss {manifest[name]['final_validation_loss']}")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {manifest_path}")


if __name__ == "__main__":
    main()
