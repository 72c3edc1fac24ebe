"""Run the course headless: every notebook, in order, with papermill; write executed copies and HTML.

``make course`` calls ``python -m crystalkit.course``; the tests call
:func:`run_notebook` on each notebook. Each notebook runs in its own process,
so the peak memory we report is that notebook's kernel alone. :func:`course_map`
is the map of the course that notebook 00 shows: the plan, with each notebook's
status read from the files, so the map stays true as notebooks land.

Headless, nglview's front end is absent, so the runner asks the kit's viewer
for its static plotly view (``CRYSTALKIT_VIEWER=plotly``) and plotly for a
renderer that embeds the figures in the HTML.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COURSE_PLAN", "NotebookRun", "course_map", "course_notebooks", "run_course", "run_notebook"]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
HEADLESS_ENV = {
    "CRYSTALKIT_VIEWER": "plotly",  # no nglview front end when papermill executes a notebook
    "PLOTLY_RENDERER": "plotly_mimetype+notebook",  # JupyterLab mimetype + self-contained HTML for nbconvert
    "TQDM_DISABLE": "1",  # progress bars are for people, not for stored outputs
    # The course's models are small: one thread is faster than two (sampling 100 steps: 0.29 s against
    # 0.46 s on an idle 2-core box), and two threads on cores that other jobs also use can wait on each
    # other for tens of seconds (45 s against 2 s measured under load).
    "OMP_NUM_THREADS": "1",
}


@dataclass
class NotebookRun:
    """What happened when one notebook ran."""

    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    peak_memory_mb: float
    error: str = ""
    output: str = ""


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course notebooks in order (``NN_name.ipynb``)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


#: The whole course as planned, in order: (number, notebook, what a learner leaves with). Notebooks land one
#: issue at a time, so whether each exists yet is read from the notebooks folder by :func:`course_map`, never
#: written here.
COURSE_PLAN: tuple[tuple[str, str, str], ...] = (
    ("00", "start here", "what a generative model for crystals does (CSP vs de novo), how to run the kit, this map"),
    ("01", "representations", "how a crystal becomes numbers, and which symmetries each form keeps"),
    ("02", "datasets", "the teaching sets and the public benchmarks: splits, duplicates, leakage"),
    ("03", "baselines", "random symmetric structures and prototype substitution: the bar any model must beat"),
    ("04", "VAE", "encoder, latent space, decoder; reconstruction"),
    ("05", "GAN and normalizing flow", "adversarial training and mode collapse; exact likelihood, change of variables"),
    ("06", "diffusion", "joint diffusion of lattice, wrapped coordinates and types; watch a crystal form"),
    ("07", "flow matching", "flows on the torus; sampling steps against quality, beside diffusion"),
    ("08", "language models and GFlowNets", "a transformer over crystal tokens; sampling in proportion to a reward"),
    ("09", "evaluation", "the standard metrics exactly as the papers compute them, and their pitfalls"),
    ("10", "experimental validation", "relaxation, energy above hull, symmetry, XRD, oxidation states"),
    ("11", "disorder and defects", "partial occupancy, ordered approximants, SQS, point defects in supercells"),
    ("12", "explainability", "SHAP on property models and generators; latent and attention probes"),
    ("13", "inverse design", "property-conditioned generation, synthesis-aware filters"),
    ("14", "capstone", "every family on the same task and metrics, side by side"),
)


def course_map(folder: Path | str | None = None) -> pd.DataFrame:
    """The course map: every planned notebook, with its status read from the notebooks folder.

    A notebook is ``"available"`` when a file ``NN_*.ipynb`` with its number is in ``folder``, otherwise
    ``"planned"``; so the map stays true as notebooks land. A notebook in the folder that the plan lacks is
    listed too (status ``"available, not in the plan"``), so nothing the reader can open is missing from the map.

    Args:
        folder: the folder of the course notebooks; default the repository's ``notebooks/``.

    Returns:
        A pandas DataFrame indexed by notebook number (``"00"``, ...) with columns ``notebook``,
        ``you leave with``, ``status`` and ``file`` (the notebook's file name, empty while planned).

    Raises:
        CrystalInputError: ``folder`` is not a folder (e.g. the kit was installed without its notebooks).
    """
    import pandas as pd

    from crystalkit.errors import CrystalInputError

    folder = NOTEBOOKS if folder is None else Path(folder)
    if not folder.is_dir():
        raise CrystalInputError(
            f"No notebooks folder at {folder}: pass the folder that holds the course's NN_name.ipynb files, "
            "e.g. course_map('path/to/crystalkit/notebooks')."
        )
    present = {path.name[:2]: path.name for path in course_notebooks(folder)}
    rows = [{"#": number, "notebook": title, "you leave with": leave_with,
             "status": "available" if number in present else "planned", "file": present.get(number, "")}
            for number, title, leave_with in COURSE_PLAN]
    planned = {number for number, _, _ in COURSE_PLAN}
    rows += [{"#": number, "notebook": name[3:-len(".ipynb")].replace("_", " "), "you leave with": "",
              "status": "available, not in the plan", "file": name}
             for number, name in sorted(present.items()) if number not in planned]
    return pd.DataFrame(rows).sort_values("#", kind="stable").set_index("#")


def _execute_here(notebook: Path, output: Path, parameters: dict) -> None:
    """Runs in the child process: execute with papermill, then print the kernel's peak memory."""
    import resource

    import papermill

    papermill.execute_notebook(
        str(notebook), str(output), parameters=parameters, kernel_name="python3", cwd=str(notebook.parent),
        progress_bar=False, log_output=False,
    )
    # The kernel was our child and has exited: its peak resident memory is in RUSAGE_CHILDREN (KiB on Linux).
    print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


def run_notebook(notebook: Path, output: Path, *, quick: bool = True, seed: int = 0, timeout: float = 900,
                 extra_parameters: dict | None = None) -> NotebookRun:
    """Execute one notebook in a fresh process and report status, time and the kernel's peak memory.

    Args:
        notebook: the stored (output-free) notebook.
        output: where the executed copy goes.
        quick: the ``QUICK`` parameter (fast path for CI and Binder).
        seed: the ``SEED`` parameter.
        timeout: seconds before the run is stopped and reported failed.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"QUICK": quick, "SEED": seed, **(extra_parameters or {})}
    env = {**os.environ, **HEADLESS_ENV}
    code = (
        "import json, sys; from pathlib import Path; from crystalkit.course import _execute_here; "
        f"_execute_here(Path({str(notebook)!r}), Path({str(output)!r}), json.loads({json.dumps(parameters)!r}))"
    )
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return NotebookRun(notebook.name, "failed", time.perf_counter() - started, float("nan"),
                           error=f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - started
    peak = float("nan")
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith('{"peak_kib"'):
            peak = json.loads(line)["peak_kib"] / 1024
            break
    if done.returncode != 0:
        # papermill's error names the failing cell; keep its last lines for the report.
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
        return NotebookRun(notebook.name, "failed", seconds, peak, error=tail, output=done.stdout[-2000:])
    return NotebookRun(notebook.name, "ok", seconds, peak)


def _to_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def _table(runs: list[NotebookRun]) -> str:
    lines = [f"{'notebook':<36} {'status':<7} {'seconds':>8} {'peak MB':>8}", "-" * 62]
    for run in runs:
        lines.append(f"{run.notebook:<36} {run.status:<7} {run.seconds:>8.1f} {run.peak_memory_mb:>8.0f}")
    lines.append("-" * 62)
    lines.append(f"{'total':<36} {'':<7} {sum(r.seconds for r in runs):>8.1f}")
    return "\n".join(lines)


def run_course(out_dir: Path, *, quick: bool = True, seed: int = 0, only: list[str] | None = None) -> list[NotebookRun]:
    """Run every course notebook (or those whose names start with ``only``), write executed copies, HTML, a table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for notebook in course_notebooks():
        if only and not any(notebook.name.startswith(prefix) for prefix in only):
            continue
        executed = out_dir / notebook.name
        run = run_notebook(notebook, executed, quick=quick, seed=seed)
        if executed.exists():
            _to_html(executed)
        runs.append(run)
        print(f"{run.notebook}: {run.status} in {run.seconds:.1f} s, peak {run.peak_memory_mb:.0f} MB", flush=True)
        if run.status != "ok":
            print(run.error, file=sys.stderr, flush=True)
    (out_dir / "runs.json").write_text(json.dumps([asdict(r) for r in runs], indent=1))
    index = "".join(f'<li><a href="{r.notebook[:-6]}.html">{r.notebook}</a> ({r.status}, {r.seconds:.0f} s)</li>'
                    for r in runs)
    (out_dir / "index.html").write_text(f"<h1>crystalkit course</h1><ol>{index}</ol>", encoding="utf-8")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the crystalkit course headless.")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "course")
    parser.add_argument("--full", action="store_true", help="run with QUICK=False (long; a GPU helps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 00 02")
    args = parser.parse_args(argv)
    runs = run_course(args.out, quick=not args.full, seed=args.seed, only=args.only)
    print()
    print(_table(runs))
    print(f"\nExecuted notebooks and HTML in {args.out} (open index.html).")
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
