"""Latent explorer: look inside a VAE's latent space (notebook 04).

A VAE (`crystalkit.models.vae.VAE`) gives every crystal a posterior mean
``mu``, a point in a ``D``-dimensional latent space. Three views of it:

* :func:`latent_map` — the mean of every crystal of a set, projected to two
  dimensions by PCA (principal component analysis: the plane through the
  points that keeps the most of their spread), with a label per crystal;
* :func:`latent_map_figure` — that map as a plotly scatter coloured by the
  label, with two chosen crystals and the straight walk between them marked;
* :func:`latent_walk` — the crystals decoded at evenly spaced points of the
  straight line from one crystal's ``mu`` to another's. The decoder of a CSP
  VAE needs a composition: each point is decoded with the composition of the
  nearer end, and every point uses the same seed, so what changes along the
  walk comes from ``z`` alone.

:func:`latent_explorer` puts them together in a live widget: the map beside a
crystal drawing; picking a point (a click on the map where plotly's
``FigureWidget`` is available, and the ``crystal`` drop-down everywhere)
draws that crystal; ``from`` and ``to`` choose the two ends of a walk and the
``walk`` slider moves along it, drawing each decoded crystal. In a live
JupyterLab (backend ``"nglview"``, see :mod:`crystalkit.widgets.backend`) the
crystals are drawn one after another in one nglview canvas (a new 3-D view per
move would use up the browser's WebGL contexts); elsewhere as plotly figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets.backend import Backend, resolve_backend

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from crystalkit.models.vae import VAE

__all__ = ["LatentMap", "latent_explorer", "latent_map", "latent_map_figure", "latent_walk", "pca_2d"]


@dataclass(frozen=True)
class LatentMap:
    """The latent means of a set of crystals and their 2-D PCA projection."""

    mu: np.ndarray  # (n, D) posterior means
    xy: np.ndarray  # (n, 2) projection on the first two principal components
    mean: np.ndarray  # (D,) centre of the means
    components: np.ndarray  # (2, D) the two principal directions (unit rows)
    explained: np.ndarray  # (2,) share of the means' variance each direction keeps
    labels: np.ndarray  # (n,) the colouring label (NaN where unknown)
    names: list[str]  # (n,) formula and index, for hover text and the drop-downs

    def project(self, z: np.ndarray) -> np.ndarray:
        """``(m, 2)`` positions on the map of latent vectors ``(m, D)``."""
        return (np.asarray(z) - self.mean) @ self.components.T


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA by SVD: ``(xy (n, 2), mean (D,), components (2, D), explained (2,))``.

    The signs of the directions are fixed (largest loading positive), so the
    map does not flip between runs.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) < 2:
        raise CrystalInputError(f"PCA needs at least two latent vectors as an (n, D) array, got {points.shape}.")
    mean = points.mean(axis=0)
    _, singular, vt = np.linalg.svd(points - mean, full_matrices=False)
    components = np.zeros((2, points.shape[1]))
    count = min(2, vt.shape[0])
    components[:count] = vt[:count]
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    variance = singular**2
    explained = np.zeros(2)
    explained[:count] = variance[:count] / max(variance.sum(), 1e-30)
    return (points - mean) @ components.T, mean, components, explained


def latent_map(model: VAE, structures: Sequence[Structure], labels: Sequence[float] | None = None,
               *, batch_size: int = 256) -> LatentMap:
    """Encode ``structures`` (posterior means) and project them to 2-D by PCA."""
    import torch

    from crystalkit.data.batch import CrystalBatch

    structures = list(structures)
    if len(structures) < 2:
        raise CrystalInputError("A latent map needs at least two structures.")
    if labels is not None and len(labels) != len(structures):
        raise CrystalInputError(f"{len(labels)} labels for {len(structures)} structures: give one label each.")
    means = []
    with torch.no_grad(), model._in_eval_mode():
        for start in range(0, len(structures), batch_size):
            mu, _ = model.encode(CrystalBatch.from_structures(structures[start:start + batch_size]))
            means.append(mu.cpu().double().numpy())
    mu = np.concatenate(means)  # (n, D)
    xy, mean, components, explained = pca_2d(mu)
    values = np.full(len(structures), np.nan) if labels is None else np.asarray(labels, dtype=float)
    names = [f"{s.composition.reduced_formula} #{i}" for i, s in enumerate(structures)]
    return LatentMap(mu, xy, mean, components, explained, values, names)


def latent_walk(model: VAE, mu_start: np.ndarray, mu_end: np.ndarray, compositions: tuple, *, steps: int = 9,
                seed: int = 0, num_steps: int | None = None) -> list[Structure]:
    """Crystals decoded at ``steps`` evenly spaced points from ``mu_start`` to ``mu_end`` (both ends included).

    Args:
        model: the VAE.
        mu_start, mu_end: ``(D,)`` latent vectors of the two ends.
        compositions: ``(start, end)`` compositions; each point uses the nearer end's.
        steps: points on the walk (at least 2).
        seed: one seed for every point, so the coordinate noise is the same all along.
        num_steps: denoising steps (default the model's).
    """
    import torch

    if not isinstance(steps, int) or steps < 2:
        raise CrystalInputError(f"steps must be an integer >= 2 (the two ends), got {steps!r}.")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float32)[:, None]  # (S, 1)
    start, end = (torch.as_tensor(np.asarray(v), dtype=torch.float32).reshape(1, -1) for v in (mu_start, mu_end))
    z = (1 - t) * start + t * end  # (S, D) straight line in latent space
    walk = []
    for i in range(steps):  # one decode per point with the same seed: the noise is the same at every point
        composition = compositions[0] if float(t[i]) < 0.5 else compositions[1]
        walk += model.decode(z[i : i + 1], [composition], seed=seed, num_steps=num_steps).to_structures()
    return walk


def latent_map_figure(chart: LatentMap, *, label_name: str = "label", ends: tuple[int, int] | None = None,
                      walk: np.ndarray | None = None, height: int = 420) -> go.Figure:
    """The 2-D map as a plotly scatter: one point per crystal coloured by its label; ends and walk marked.

    Trace 0 is the crystals (``customdata`` holds each one's index); then, if
    given, the walk ``(S, D)`` as a line and the two ends as stars.
    """
    import plotly.graph_objects as go

    known = not np.isnan(chart.labels).all()
    marker = dict(size=7, color=chart.labels, colorscale="Viridis", showscale=True,
                  colorbar=dict(title=label_name)) if known else dict(size=7)
    traces = [go.Scatter(x=chart.xy[:, 0], y=chart.xy[:, 1], mode="markers", marker=marker, name="crystals",
                         customdata=np.arange(len(chart.xy)), text=chart.names,
                         hovertemplate="%{text}<br>" + label_name + " %{marker.color:.3f}<extra></extra>"
                         if known else "%{text}<extra></extra>")]
    if walk is not None:
        path = chart.project(walk)
        traces.append(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name="walk",
                                 line=dict(color="crimson"), marker=dict(size=4, color="crimson")))
    if ends is not None:
        traces.append(go.Scatter(x=chart.xy[list(ends), 0], y=chart.xy[list(ends), 1], mode="markers+text",
                                 text=["from", "to"], textposition="top center", name="ends",
                                 marker=dict(symbol="star", size=14, color="crimson")))
    figure = go.Figure(traces)
    figure.update_layout(height=height, margin=dict(l=40, r=10, t=40, b=40), showlegend=False,
                         title=f"Latent means, PCA ({chart.explained[0]:.0%} + {chart.explained[1]:.0%} of the "
                               "variance)", xaxis_title="PC 1", yaxis_title="PC 2")
    return figure


def latent_explorer(
    model: VAE, structures: Sequence[Structure], labels: Sequence[float] | None = None, *,
    label_name: str = "label", start: int | None = None, end: int | None = None, steps: int = 9, seed: int = 0,
    num_steps: int | None = None, height: int = 420, backend: Backend = "auto",
) -> ipywidgets.VBox:
    """The live explorer: map, crystal drawing, a crystal picker, walk ends and the walk slider.

    Returns an ``ipywidgets.VBox`` with ``.children``: ``[0]`` an HBox of the map
    and the drawing (two ``Output`` widgets), ``[1]`` an HBox of the ``crystal``,
    ``from`` and ``to`` drop-downs, ``[2]`` the ``walk`` ``IntSlider`` and
    ``[3]`` the caption (HTML). Its attributes ``.shown`` (the crystal drawn
    now), ``.map`` (the `LatentMap`) and ``.walk`` (the decoded structures of
    the current walk) let code and tests read what is shown; ``.figure`` is the
    plotly figure drawn (plotly backend) or the nglview widget (nglview).

    ``start`` and ``end`` (indices into ``structures``) are the ends of the first walk; by default the two
    crystals furthest apart along the map's first principal direction.

    Raises:
        CrystalInputError: ``start`` or ``end`` outside the structures, or an unknown backend.
    """
    import ipywidgets

    backend = resolve_backend(backend)
    chart = latent_map(model, structures, labels)
    structures = list(structures)
    if start is None or end is None:  # default walk: the two crystals furthest apart along the map's first axis
        start = int(np.argmin(chart.xy[:, 0])) if start is None else start
        end = int(np.argmax(chart.xy[:, 0])) if end is None else end
    for index in (start, end):
        if not 0 <= index < len(structures):
            raise CrystalInputError(f"start and end must index the structures (0 .. {len(structures) - 1}).")
    options = [(name, i) for i, name in enumerate(chart.names)]
    picker = ipywidgets.Dropdown(options=options, value=start, description="crystal")
    start_box = ipywidgets.Dropdown(options=options, value=start, description="from")
    end_box = ipywidgets.Dropdown(options=options, value=end, description="to")
    slider = ipywidgets.IntSlider(value=0, min=0, max=steps - 1, description="walk", continuous_update=False)
    # Two areas whose content is swapped as state (children, or a figure's display data), never by output capture:
    # capture hangs headless runs (see crystalkit/widgets/_live.py).
    map_out, crystal_out = (ipywidgets.Box(layout=ipywidgets.Layout(width="50%")) for _ in range(2))
    caption = ipywidgets.HTML()
    widget = ipywidgets.VBox([ipywidgets.HBox([map_out, crystal_out]),
                              ipywidgets.HBox([picker, start_box, end_box]), slider, caption])
    widget.add_class("crystalkit-latent-explorer")  # how the real-browser test finds it
    widget.map = chart
    _wire(widget, model, structures, dict(picker=picker, start=start_box, end=end_box, slider=slider,
                                          map_out=map_out, crystal_out=crystal_out, caption=caption),
          dict(steps=steps, seed=seed, num_steps=num_steps, label_name=label_name, height=height,
               backend=backend))
    return widget


def _show_in(area, shown) -> None:
    """Put ``shown`` in ``area`` (an ``ipywidgets.Box``): a widget as its child, a plotly figure as display data."""
    import ipywidgets

    from crystalkit.widgets._live import figure_box, show_figure

    if isinstance(shown, ipywidgets.DOMWidget):
        area.children = (shown,)
        return
    if not (area.children and isinstance(area.children[0], ipywidgets.Output)):
        area.children = (figure_box(),)
    show_figure(area.children[0], shown)


def _wire(widget, model, structures: list[Structure], parts: dict, settings: dict) -> None:
    """Connect the controls: recompute the walk when its ends change, redraw on every move."""
    from crystalkit.widgets.figures import crystal_figure
    from crystalkit.widgets.ngl import replace_structure, swappable_widget

    chart, height = widget.map, settings["height"]
    widget.figure = None

    def draw(structure: Structure, text: str) -> None:
        widget.shown = structure
        parts["caption"].value = f'<div style="font-family:sans-serif">{text}</div>'
        if settings["backend"] == "nglview":  # one canvas for the whole session: swap the crystal in it
            if widget.figure is None:
                widget.figure = swappable_widget([structure], height=f"{height}px")
                _show_in(parts["crystal_out"], widget.figure)
            else:
                replace_structure(widget.figure, structure, refit=True)
            return
        widget.figure = crystal_figure(structure, title=text, height=height)
        _show_in(parts["crystal_out"], widget.figure)

    def redraw_map() -> None:
        a, b = parts["start"].value, parts["end"].value
        t = np.linspace(0, 1, settings["steps"])[:, None]
        figure = latent_map_figure(chart, label_name=settings["label_name"], ends=(a, b),
                                   walk=(1 - t) * chart.mu[a] + t * chart.mu[b], height=height)
        _show_in(parts["map_out"], _clickable(figure, lambda index: setattr(parts["picker"], "value", index)))

    def new_walk(_change=None) -> None:
        a, b = parts["start"].value, parts["end"].value
        widget.walk = latent_walk(model, chart.mu[a], chart.mu[b], (structures[a].composition,
                                  structures[b].composition), steps=settings["steps"], seed=settings["seed"],
                                  num_steps=settings["num_steps"])
        redraw_map()
        show_walk()

    def show_walk(_change=None) -> None:
        i, last = parts["slider"].value, settings["steps"] - 1
        draw(widget.walk[i], f"walk {i}/{last} from {chart.names[parts['start'].value]} to "
                             f"{chart.names[parts['end'].value]}: decoded {widget.walk[i].composition.reduced_formula}")

    def show_crystal(change) -> None:
        draw(structures[change["new"]], f"{chart.names[change['new']]} (a crystal of the set)")

    parts["start"].observe(new_walk, names="value")
    parts["end"].observe(new_walk, names="value")
    parts["slider"].observe(show_walk, names="value")
    parts["picker"].observe(show_crystal, names="value")
    new_walk()


def _clickable(figure: go.Figure, choose):
    """The map to display: a FigureWidget whose clicks call ``choose(index)`` where plotly can make one
    (plotly >= 6 needs the optional ``anywidget`` package), else the static figure (pick with the drop-down)."""
    try:
        import plotly.graph_objects as go

        live = go.FigureWidget(figure)
    except ImportError:
        return figure

    def clicked(trace, points, state) -> None:
        if points.point_inds:
            choose(int(trace.customdata[points.point_inds[0]]))

    live.data[0].on_click(clicked)
    return live
