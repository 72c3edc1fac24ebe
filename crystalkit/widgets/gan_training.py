"""GAN training explorer: a slider over the logged steps of a run, its samples and its diversity curve.

A GAN's loss does not say whether its samples are any good (notebook 05), so
the way to watch one learn is to look at what it makes. During
:func:`crystalkit.models.gan.train_with_history` (with ``keep_generators=True``)
the generator's weights are copied at every logged step. This widget puts a
slider over those steps:

* left, the **diversity** of the samples over training (1: as varied as the
  data; near 0: mode collapse), with a marker at the chosen step;
* right, every probe composition's sample at that step as a point
  (volume per atom against the shortest interatomic distance), over the real
  crystals of the same compositions in grey. A healthy generator's cloud
  covers the grey one; a collapsing one shrinks to a point.

:func:`training_snapshot_points` is the pure function underneath (the
points of one step). Two faces: :func:`gan_training_figure`, one
self-contained plotly figure with its own slider (every step's samples are
stored as a frame, so it works in exported HTML and under papermill; its axes
are fixed to hold every step's samples, since plotly does not rescale the axes
when a frame is shown), and :func:`gan_training_explorer`, an ipywidgets slider
that redraws a live figure (a ``FigureWidget`` with plotly 6+ needs the optional
``anywidget``; without it the figure is redrawn by setting an ``Output``'s state,
never by output capture, see :mod:`crystalkit.widgets._live`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets._live import figure_box, show_figure

if TYPE_CHECKING:
    import ipywidgets

    from crystalkit.models.gan import GAN

__all__ = ["gan_training_explorer", "gan_training_figure", "training_snapshot_points"]


def _points(structures: Sequence[Structure]) -> tuple[list[float], list[float]]:
    """(volume per atom in Å³, shortest interatomic distance in Å) of each structure."""
    volumes = [s.volume / len(s) for s in structures]
    shortest = [float(s.distance_matrix[~torch.eye(len(s), dtype=torch.bool).numpy()].min()) if len(s) > 1
                else float(min(s.lattice.abc)) for s in structures]
    return volumes, shortest


def training_snapshot_points(model: GAN, snapshot: dict, compositions: Sequence, seed: int = 0
                             ) -> tuple[list[float], list[float]]:
    """The points of one logged step: load its generator weights into ``model``, sample one crystal per
    composition with ``seed``, and return (volumes per atom, shortest distances). ``model`` keeps the weights."""
    model.generator.load_state_dict(snapshot)
    samples = [group[0] for group in model.sample(list(compositions), 1, seed=seed)]
    return _points(samples)


def gan_training_explorer(model: GAN, rows: Sequence[dict], snapshots: Sequence[dict],
                          probe: Sequence[Structure], *, seed: int = 0, height: int = 380) -> ipywidgets.VBox:
    """A slider over the logged steps of a GAN run; the figure shows that step's samples and the diversity.

    Args:
        model: the GAN the run trained (its generator weights are swapped as the slider moves).
        rows, snapshots: what :func:`~crystalkit.models.gan.train_with_history` returned with
            ``keep_generators=True`` (one snapshot per row).
        probe: the real structures whose compositions are sampled (the run's probe).

    Returns:
        ``VBox(slider, figure)``, with the figure also at ``.figure``: a plotly ``FigureWidget`` updated in
        place where plotly can make one (plotly 6+ needs the optional ``anywidget``), else a plain figure
        drawn again below the slider. Its traces are ``[diversity curve, step marker, real crystals, samples]``.
    """
    import ipywidgets

    figure, steps, diversity = _training_panels(rows, snapshots, probe, "samples at this step", ([], []))
    compositions = [s.composition for s in probe]
    figure.update_layout(height=height)
    slider = ipywidgets.IntSlider(value=len(rows) - 1, min=0, max=len(rows) - 1, description="logged step",
                                  continuous_update=False)

    def show(index: int) -> None:
        volumes, shortest = training_snapshot_points(model, snapshots[index], compositions, seed)
        target = live if live is not None else figure
        target.data[1].x, target.data[1].y = [steps[index]], [diversity[index]]
        target.data[3].x, target.data[3].y = volumes, shortest
        target.layout.annotations[1].text = f"samples at step {steps[index]}"
        if live is None:  # a static figure is drawn again in the drawing box (no output capture)
            show_figure(output, figure)

    live, output = _live_figure(figure)
    slider.observe(lambda change: show(change["new"]), names="value")
    show(slider.value)
    box = ipywidgets.VBox([slider, live if live is not None else output])
    box.figure = live if live is not None else figure  # what the slider changes (for tests and notebooks)
    return box


def _live_figure(figure):
    """``(FigureWidget, None)`` where plotly can make one, else ``(None, an ipywidgets.Output)`` to draw into."""
    import plotly.graph_objects as go

    try:
        return go.FigureWidget(figure), None
    except ImportError:  # plotly >= 6 without anywidget
        return None, figure_box()


def gan_training_figure(model: GAN, rows: Sequence[dict], snapshots: Sequence[dict], probe: Sequence[Structure],
                        *, seed: int = 0, height: int = 400):
    """The explorer as one plotly figure: a slider over the logged steps, one frame per step.

    Traces ``[diversity curve, step marker, real crystals, samples]``; each frame replaces the marker and
    the samples (traces 1 and 3). The figure starts at the last step. The axes of the samples panel are
    fixed to hold the real crystals and the samples of every step (plotly keeps the axes of the first
    drawing when it shows a frame, so autoscaled axes would leave other steps' samples off the panel).
    ``model`` ends with the last snapshot's generator weights.
    """
    import plotly.graph_objects as go

    _check_snapshots(rows, snapshots)
    compositions = [s.composition for s in probe]
    points = [training_snapshot_points(model, snapshot, compositions, seed) for snapshot in snapshots]
    figure, steps, diversity = _training_panels(rows, snapshots, probe, "samples (red), data (grey)", points[-1])
    real_volume, real_shortest = figure.data[2].x, figure.data[2].y
    figure.frames = [go.Frame(name=str(step), traces=[1, 3],
                              data=[go.Scatter(x=[step], y=[value]), go.Scatter(x=volumes, y=shortest)])
                     for step, value, (volumes, shortest) in zip(steps, diversity, points)]
    slider = {"active": len(steps) - 1, "currentvalue": {"prefix": "step "},
              "steps": [{"label": str(step), "method": "animate",
                         "args": [[str(step)], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                                "transition": {"duration": 0}}]} for step in steps]}
    figure.update_layout(height=height, sliders=[slider])
    every_volume = [real_volume] + [volumes for volumes, _ in points]  # the data and every step's samples
    every_shortest = [real_shortest] + [shortest for _, shortest in points]
    figure.update_xaxes(range=_padded_range(every_volume), autorange=False, row=1, col=2)
    figure.update_yaxes(range=_padded_range(every_shortest), autorange=False, row=1, col=2)
    return figure


def _check_snapshots(rows: Sequence[dict], snapshots: Sequence[dict]) -> None:
    if not rows or len(rows) != len(snapshots):
        raise CrystalInputError(f"Need one generator snapshot per logged row, got {len(snapshots)} snapshots for "
                                f"{len(rows)} rows: train with train_with_history(..., keep_generators=True).")


def _training_panels(rows: Sequence[dict], snapshots: Sequence[dict], probe: Sequence[Structure],
                     samples_title: str, samples: tuple[Sequence[float], Sequence[float]]):
    """The two panels both views share, traces ``[diversity curve, step marker (last step), real crystals,
    samples]``; returns ``(figure, steps, diversity)``."""
    from plotly.subplots import make_subplots

    _check_snapshots(rows, snapshots)
    steps, diversity = [row["step"] for row in rows], [row["diversity"] for row in rows]
    figure = make_subplots(rows=1, cols=2, subplot_titles=("diversity over training", samples_title))
    figure.add_scatter(x=steps, y=diversity, mode="lines+markers", name="diversity", row=1, col=1)
    figure.add_scatter(x=[steps[-1]], y=[diversity[-1]], mode="markers", marker={"size": 14, "color": "red"},
                       name="this step", row=1, col=1)
    real_volume, real_shortest = _points(probe)
    figure.add_scatter(x=real_volume, y=real_shortest, mode="markers", marker={"color": "lightgrey", "size": 9},
                       name="real crystals", row=1, col=2)
    figure.add_scatter(x=samples[0], y=samples[1], mode="markers", marker={"color": "#d62728", "size": 7},
                       name="samples", row=1, col=2)
    figure.update_xaxes(title_text="step", row=1, col=1)
    figure.update_yaxes(title_text="diversity (data = 1)", row=1, col=1)
    figure.update_xaxes(title_text="volume per atom (Å³)", row=1, col=2)
    figure.update_yaxes(title_text="shortest distance (Å)", row=1, col=2)
    return figure, steps, diversity


def _padded_range(groups: Sequence[Sequence[float]], pad: float = 0.05) -> list[float]:
    """``[low, high]`` holding every finite value of every group, widened by ``pad`` of the span each side."""
    values = [v for group in groups for v in group if math.isfinite(v)]
    if not values:
        return [0.0, 1.0]
    low, high = min(values), max(values)
    margin = pad * (high - low) if high > low else max(abs(low) * pad, 0.5)
    return [low - margin, high + margin]
