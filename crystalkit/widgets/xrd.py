"""XRD comparison: a target powder pattern, a candidate's pattern over it, and the candidate crystal beside it.

The exercise of :mod:`crystalkit.validation.xrd` made visual: given a measured
(or simulated) target pattern and several generated crystals, which one
explains it? :func:`xrd_comparison` ranks the candidates and lets you flip
through them, best first, each drawn beside its pattern.

Like the crystal viewer (:mod:`crystalkit.widgets.backend`), it has two
faces:

* ``plotly`` (exported HTML, headless runs, anywhere): one self-contained
  figure, pattern on the left, crystal on the right, and a drop-down menu in
  the figure that switches candidate. It needs no kernel, so it works in a
  static page.
* ``nglview`` (a live JupyterLab): an ipywidgets drop-down above the plotly
  pattern and an nglview crystal, which rotates more smoothly.

:func:`xrd_figure` is the pure function underneath: one target, one
candidate, a plotly figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.validation.xrd import XRDPattern, rank_candidates, resample_pattern, simulate_xrd
from crystalkit.widgets.backend import Backend, resolve_backend

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["xrd_comparison", "xrd_figure"]

_TARGET_COLOR = "black"
_CANDIDATE_COLOR = "#d62728"
_STRAINED_COLOR = "#1f77b4"


def xrd_figure(
    target: XRDPattern,
    candidate: XRDPattern | Structure,
    *,
    strain: float = 0.0,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Target pattern (black) with a candidate's pattern (red) over it, and the candidate's sticks.

    Args:
        target: the pattern to explain.
        candidate: a pattern, or a structure (simulated with the target's settings).
        strain: if non-zero, also draw the candidate after stretching its lattice by
            ``1 + strain`` (blue, dotted), e.g. the best strain from
            :func:`~crystalkit.validation.xrd.best_strain_similarity`.
        title: figure title; default: the two cosine similarities.
        height: figure height in pixels.
    """
    import plotly.graph_objects as go

    from crystalkit.validation.xrd import xrd_similarity

    pattern = _as_pattern(candidate, target)
    figure = go.Figure(_pattern_traces(target, pattern, strain))
    if title is None:
        title = f"{pattern.label}: cosine similarity {xrd_similarity(target, pattern):.3f}"
        if strain:
            stretched = xrd_similarity(target, resample_pattern(pattern, target, strain))
            title += f", {stretched:.3f} at {100 * strain:+.1f}% lattice"
    figure.update_layout(title=title, height=height, **_pattern_layout())
    return figure


def xrd_comparison(
    target: XRDPattern,
    candidates: Sequence[Structure],
    *,
    names: Sequence[str] | None = None,
    max_strain: float = 0.02,
    backend: Backend = "auto",
    height: int = 460,
) -> go.Figure | ipywidgets.VBox:
    """Flip through candidate crystals, best-matching first, each beside its pattern over the target's.

    Args:
        target: the pattern to explain (measured or simulated).
        candidates: the crystals to compare (simulated with the target's settings).
        names: one label per candidate; default "candidate 0", ...
        max_strain: isotropic lattice stretch allowed by the strain-tolerant score.
        backend: "auto" (nglview in a live JupyterLab, plotly elsewhere), "plotly" or "nglview".
        height: height in pixels.

    Returns:
        plotly: a figure with a drop-down menu over the ranked candidates.
        nglview: an ``ipywidgets.VBox`` (drop-down, then pattern and crystal side by side).
        The ranking table is in ``.ranking`` on the ipywidget, and in
        ``figure.layout.meta["ranking"]`` (as records) on the figure.
    """
    if isinstance(candidates, Structure) or len(candidates) == 0:
        raise CrystalInputError("xrd_comparison() needs a non-empty list of candidate structures.")
    for position, candidate in enumerate(candidates):
        if not isinstance(candidate, Structure):
            raise CrystalInputError(
                f"Candidate {position} is a {type(candidate).__name__}: the comparison shows each crystal, "
                "so pass structures (use rank_candidates for bare patterns)."
            )
    names = list(names) if names is not None else [f"candidate {i}" for i in range(len(candidates))]
    ranking = rank_candidates(target, candidates, names=names, max_strain=max_strain)
    patterns = {
        int(i): simulate_xrd(candidates[int(i)], **target.settings(), label=names[int(i)]) for i in ranking.index
    }
    if resolve_backend(backend) == "nglview":
        return _ipywidget(target, candidates, ranking, patterns, height)
    return _plotly_comparison(target, candidates, ranking, patterns, height)


def _plotly_comparison(target, candidates, ranking, patterns, height) -> go.Figure:
    """One figure: pattern panel + crystal scene, one group of traces per candidate, a menu to switch."""
    from plotly.subplots import make_subplots

    from crystalkit.widgets.figures import crystal_figure

    figure = make_subplots(
        rows=1, cols=2, column_widths=[0.62, 0.38], specs=[[{"type": "xy"}, {"type": "scene"}]],
        horizontal_spacing=0.04,
    )
    groups: list[tuple[int, int]] = []  # (first trace, number of traces) per candidate, in ranked order
    labels = []
    for rank, (index, row) in enumerate(ranking.iterrows()):
        first = len(figure.data)
        for trace in _pattern_traces(target, patterns[int(index)], row["strain"], with_target=rank == 0):
            figure.add_trace(trace, row=1, col=1)
        crystal = crystal_figure(candidates[int(index)])
        for trace in crystal.data:
            trace.showlegend = False
            figure.add_trace(trace, row=1, col=2)
        groups.append((first, len(figure.data) - first))
        labels.append(f"#{rank + 1} {row['name']} ({row['formula']}): {row['similarity_strained']:.3f}")
    target_traces = 1  # the target line is the first trace of the best candidate's group, always shown
    buttons = []
    for rank, (first, count) in enumerate(groups):
        visible = [False] * len(figure.data)
        visible[:target_traces] = [True] * target_traces
        for position in range(first, first + count):
            visible[position] = True
        update = [{"visible": visible}, {"title.text": _title(ranking, rank)}]
        buttons.append(dict(label=labels[rank], method="update", args=update))
    for position, trace in enumerate(figure.data):
        trace.visible = buttons[0]["args"][0]["visible"][position]
    scene = crystal_figure(candidates[int(ranking.index[0])]).layout.scene
    figure.update_scenes(aspectmode=scene.aspectmode, camera=scene.camera, xaxis_visible=False,
                         yaxis_visible=False, zaxis_visible=False)
    figure.update_layout(
        height=height,
        title=_title(ranking, 0),
        updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.13, yanchor="top")],
        margin=dict(l=50, r=10, t=110, b=50),
        meta={"ranking": ranking.reset_index().to_dict("records")},
        **_pattern_layout(),
    )
    return figure


def _ipywidget(target, candidates, ranking, patterns, height) -> ipywidgets.VBox:
    """Live JupyterLab: a drop-down, the pattern figure and the nglview crystal side by side.

    The crystal is one nglview widget whose structure is swapped when the
    choice changes (a new widget per choice would use up the page's WebGL
    contexts; see :mod:`crystalkit.widgets.ngl`).
    """
    import ipywidgets

    from crystalkit.widgets._live import figure_box, show_figure
    from crystalkit.widgets.ngl import legend_html, replace_structure, swappable_widget

    options = [
        (f"#{rank + 1} {row['name']} ({row['formula']}): {row['similarity_strained']:.3f}", int(index))
        for rank, (index, row) in enumerate(ranking.iterrows())
    ]
    first = options[0][1]
    chooser = ipywidgets.Dropdown(options=options, description="candidate", layout=ipywidgets.Layout(width="60%"))
    pattern_box = figure_box(width="62%")  # redrawn as state, never by output capture (see widgets/_live.py)
    crystal = swappable_widget([candidates[first]], height=f"{height - 60}px")
    legend = ipywidgets.HTML()
    legend.add_class("crystalkit-legend")
    crystal_box = ipywidgets.VBox([legend, crystal], layout=ipywidgets.Layout(width="38%"))
    crystal_box.add_class("crystalkit-viewer")
    drawn = {"index": first}  # the candidate the nglview widget shows

    def show(index: int) -> None:
        row = ranking.loc[index]
        rank = list(ranking.index).index(index)
        figure = xrd_figure(target, patterns[index], strain=row["strain"], title=_title(ranking, rank))
        show_figure(pattern_box, figure)
        legend.value = legend_html(candidates[index])
        if index != drawn["index"]:
            replace_structure(crystal, candidates[index], refit=True)
            drawn["index"] = index

    chooser.observe(lambda change: show(change["new"]), names="value")
    show(first)
    widget = ipywidgets.VBox([chooser, ipywidgets.HBox([pattern_box, crystal_box])])
    widget.add_class("crystalkit-xrd-comparison")  # how the real-browser test finds it
    widget.ranking = ranking
    return widget


def _pattern_traces(target: XRDPattern, pattern: XRDPattern, strain: float, *, with_target: bool = True) -> list:
    """Target line, candidate line, optional strained candidate, candidate sticks (with hkl on hover)."""
    import plotly.graph_objects as go

    traces = []
    if with_target:
        traces.append(go.Scatter(x=target.two_theta, y=target.intensity, name=target.label or "target",
                                 line=dict(color=_TARGET_COLOR, width=1.5)))
    shown = resample_pattern(pattern, target)  # on the target's grid and wavelength
    traces.append(go.Scatter(x=shown.two_theta, y=shown.intensity, name=pattern.label,
                             line=dict(color=_CANDIDATE_COLOR, width=1.5), opacity=0.8))
    if strain:
        stretched = resample_pattern(pattern, target, strain)
        traces.append(go.Scatter(x=stretched.two_theta, y=stretched.intensity, name=f"{100 * strain:+.1f}% lattice",
                                 line=dict(color=_STRAINED_COLOR, width=1.5, dash="dot")))
    sticks_x, sticks_y, hover = [], [], []
    for position, height, hkl in zip(shown.peak_two_theta, shown.peak_intensity, shown.peak_hkl, strict=True):
        sticks_x += [position, position, None]
        sticks_y += [0.0, -0.15 * height / 100, None]
        hover += [f"2θ {position:.2f}°, I {height:.0f}, hkl {hkl}"] * 2 + [""]
    traces.append(go.Scatter(x=sticks_x, y=sticks_y, mode="lines", name="candidate peaks", text=hover,
                             hovertemplate="%{text}<extra></extra>", line=dict(color=_CANDIDATE_COLOR, width=1)))
    return traces


def _pattern_layout() -> dict:
    return dict(
        xaxis=dict(title="2θ (degrees)"),
        yaxis=dict(title="intensity (highest peak = 1)", zeroline=True),
        legend=dict(orientation="h", y=-0.2),
        paper_bgcolor="white",
        plot_bgcolor="white",
    )


def _title(ranking, rank: int) -> str:
    row = ranking.iloc[rank]
    return (
        f"#{rank + 1} {row['name']} ({row['formula']}): cosine {row['similarity']:.3f}, "
        f"{row['similarity_strained']:.3f} allowing {100 * row['strain']:+.1f}% lattice"
    )


def _as_pattern(candidate: XRDPattern | Structure, target: XRDPattern) -> XRDPattern:
    if isinstance(candidate, XRDPattern):
        return candidate
    if isinstance(candidate, Structure):
        return simulate_xrd(candidate, **target.settings())
    raise CrystalInputError(f"Expected an XRDPattern or a Structure, got {type(candidate).__name__}.")
