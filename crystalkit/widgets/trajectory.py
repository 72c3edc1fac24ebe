"""Trajectory player: watch noise become a crystal, one sampling step at a time.

A diffusion or flow-matching sampler (notebooks 06 and 07) starts from pure
noise and moves every atom, and the cell, a little at each step.
``model.sample_trajectory(...)`` returns every intermediate state as a list of
:class:`~crystalkit.data.batch.CrystalBatch`, first (step 0, noise) to last
(the generated crystal). Played as a film, it shows what the model learned:

* the **cell** starts as a random, skewed box (the lattice is Gaussian noise,
  often far too large or too small) and grows or shrinks and squares up
  towards the crystal's cell: watch the volume in the caption;
* the **atoms** wander on the torus: fractional coordinates are periodic, so an
  atom that walks out through one face of the cell comes back in through the
  opposite face. The drawing wraps every fractional coordinate into [0, 1), so
  you see exactly that jump; the model itself never sees a wall;
* in the **last steps** the noise is small and the atoms snap into their
  sites; in de novo generation the elements settle too (an atom may change
  colour along the way).

Two faces, like the crystal viewer (:mod:`crystalkit.widgets.backend`):

* :func:`trajectory_figure` (plotly, anywhere): one self-contained figure with
  a slider over the steps and play / pause buttons. All frames are stored in
  the figure, so it plays in an exported HTML page with no kernel.
* :func:`trajectory_player` with a live JupyterLab: an ipywidgets play button
  and slider move the atoms of *one* nglview view (a new 3-D view per frame
  would use up the browser's WebGL contexts and blank the page's other views:
  see :mod:`crystalkit.widgets.ngl`) and print the cell of the current step.

:func:`trajectory_frames` is the common first step: one crystal's frames as
pymatgen structures, checked.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets._inputs import (
    check_drawable,
    site_label,
    supercell_positions,
)
from crystalkit.widgets.backend import Backend, resolve_backend
from crystalkit.widgets.figures import ATOM_SIZE, _crystal_traces, _scene_layout

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from crystalkit.data.batch import CrystalBatch

__all__ = ["trajectory_figure", "trajectory_frames", "trajectory_player"]

#: Time per frame (milliseconds) when a trajectory plays: 40 frames take about 6 s,
#: slow enough to follow one atom, quick enough to see the whole film.
_FRAME_MS = 150

#: Empty space (Å) around the union of all frames, so markers at the edge are not cut.
_PADDING = 1.0

#: Size of the scene's aspect ratio along its longest axis. With an orthographic camera plotly
#: zooms by this size, not by the camera's distance; 1.5 fills the scene with the box holding
#: every frame (1 leaves the crystal small in a wide margin).
_ZOOM = 1.5


def trajectory_frames(states: Sequence[CrystalBatch] | Sequence[Structure], crystal: int = 0) -> list[Structure]:
    """One crystal's sampling trajectory as a list of pymatgen structures, first (noise) to last.

    Args:
        states: what ``model.sample_trajectory(...)`` returns (a list of
            ``CrystalBatch``, one per sampling step), or a list of structures
            that already are one crystal's frames.
        crystal: which crystal of each batch to follow (Python indexing, so
            ``-1`` is the last). Only for a list of batches.

    Returns:
        The frames, a new list; coordinates are kept as given (not wrapped).

    Raises:
        CrystalInputError: ``states`` is not a non-empty list of batches or of
            structures, mixes the two, ``crystal`` is out of range, or the frames
            do not all hold the same number of atoms (a trajectory moves atoms;
            it never adds or removes them).
    """
    from crystalkit.data.batch import CrystalBatch

    if isinstance(states, (Structure, CrystalBatch)) or not isinstance(states, Sequence) or isinstance(states, str):
        raise CrystalInputError(
            f"A trajectory is a list of frames, got {type(states).__name__}: pass the list that "
            "model.sample_trajectory(...) returns, or a list of structures."
        )
    if len(states) == 0:
        raise CrystalInputError("The trajectory is empty: pass at least one frame.")
    if isinstance(crystal, bool) or not isinstance(crystal, numbers.Integral):
        raise CrystalInputError(f"crystal must be an integer index, got {crystal!r}.")
    if isinstance(states[0], CrystalBatch):
        frames = []
        for step, batch in enumerate(states):
            if not isinstance(batch, CrystalBatch):
                raise CrystalInputError(
                    f"Frame {step} is a {type(batch).__name__} but frame 0 is a CrystalBatch: "
                    "pass a list of batches only, or of structures only."
                )
            if not -batch.num_crystals <= crystal < batch.num_crystals:
                raise CrystalInputError(
                    f"crystal={crystal} is out of range: step {step} holds {batch.num_crystals} crystal(s), "
                    f"so pick 0 .. {batch.num_crystals - 1}."
                )
            frames.append(batch[int(crystal)].to_structures()[0])
    else:
        if crystal != 0:
            raise CrystalInputError(
                f"crystal={crystal} picks a crystal from each CrystalBatch, but these frames are structures, "
                "already one crystal: leave crystal at 0."
            )
        for step, frame in enumerate(states):
            if not isinstance(frame, Structure):
                raise CrystalInputError(
                    f"Frame {step} is a {type(frame).__name__}: a trajectory is a list of CrystalBatch "
                    "(from sample_trajectory) or of pymatgen Structures."
                )
        frames = list(states)
    counts = [len(frame) for frame in frames]
    if len(set(counts)) > 1:
        step = next(i for i, count in enumerate(counts) if count != counts[0])
        raise CrystalInputError(
            f"Frame 0 has {counts[0]} atoms but frame {step} has {counts[step]}: every frame of a trajectory "
            "must hold the same atoms (in the same order)."
        )
    return frames


def trajectory_figure(
    states: Sequence[CrystalBatch] | Sequence[Structure],
    crystal: int = 0,
    *,
    max_frames: int = 40,
    title: str | None = None,
    height: int = 480,
) -> go.Figure:
    """A plotly film of one crystal forming: a slider over sampling steps, with play and pause.

    Every frame is stored in the figure, so it plays in exported HTML with no
    kernel. The camera and the axis ranges are fixed (the box holds every atom
    and cell corner of every frame shown), so what moves on screen is the
    crystal, not the view. Fractional coordinates are wrapped into [0, 1):
    atoms that leave through a face of the cell re-enter through the opposite
    one, which is how the sampler sees them (on a torus).

    Traces (the same in every frame, as plotly animation needs): one marker
    trace per element present in *any* frame, in order of first appearance,
    empty in the frames that lack it (de novo sampling changes elements); then
    the ``"unit cell"`` edges and the ``a``, ``b``, ``c`` labels. Atoms are
    coloured and sized as by :func:`~crystalkit.widgets.figures.crystal_figure`.

    Args:
        states: ``model.sample_trajectory(...)`` output or a list of structures
            (see :func:`trajectory_frames`).
        crystal: which crystal of each batch to follow.
        max_frames: at most this many frames are drawn, evenly spread over the
            steps, always with the first (noise) and the last (the crystal).
        title: figure title; default: the final formula and the number of steps.
            Each frame adds a line with its step, cell lengths (Å), angles (°) and volume (Å^3).
        height: figure height in pixels.

    Returns:
        The figure, showing step 0; press play or drag the slider. The sampling
        step of each frame is in ``figure.layout.meta["steps"]``. Note that
        ``figure.show()`` and ``figure.write_html()`` play the film once when the
        page loads (plotly's ``auto_play=True`` default), ending on the crystal.

    Raises:
        CrystalInputError: bad ``states`` or ``crystal`` (see :func:`trajectory_frames`), a frame
            that cannot be drawn (e.g. a collapsed cell), or ``max_frames`` below 2.
    """
    import plotly.graph_objects as go

    frames = trajectory_frames(states, crystal)
    steps = _shown_steps(len(frames), max_frames)
    shown = [_drawable(frames[step], step) for step in steps]
    last_step = len(frames) - 1
    labels = _labels_in_order(shown)
    heading = title if title is not None else (
        f"{frames[-1].composition.reduced_formula}: from noise to crystal in {last_step} steps"
    )

    def frame_title(structure: Structure, step: int) -> str:
        return f"{heading}<br><sub>{_caption(structure, step, last_step)}</sub>"

    names = [_step_name(step, last_step) for step in steps]
    figure = go.Figure(
        data=_frame_traces(shown[0], labels),
        frames=[
            go.Frame(
                data=_frame_traces(structure, labels), name=name, layout=dict(title_text=frame_title(structure, step))
            )
            for structure, step, name in zip(shown, steps, names)
        ],
    )
    figure.update_layout(
        title=dict(text=frame_title(shown[0], steps[0])),
        height=height,
        margin=dict(l=0, r=0, t=70, b=0),
        legend=dict(title=dict(text="element"), itemsizing="constant"),
        scene=_fixed_scene(shown),
        paper_bgcolor="white",
        meta={"steps": steps},
        **_animation_controls(names),
    )
    return figure


def trajectory_player(
    states: Sequence[CrystalBatch] | Sequence[Structure],
    crystal: int = 0,
    *,
    backend: Backend = "auto",
    max_frames: int = 40,
    height: int = 420,
) -> ipywidgets.VBox | go.Figure:
    """Watch one crystal form during sampling: a play button and a slider over the steps.

    In a live JupyterLab (backend ``"nglview"``, or ``"auto"`` there, see
    :func:`~crystalkit.widgets.backend.resolve_backend`) this is an ipywidgets
    player that shows each frame in one nglview view (the camera fitted once to
    every frame, so the crystal moves and the view stays still), with a legend
    of elements, under a line giving the step and the cell: lengths a, b, c (Å),
    angles α, β, γ (°) and volume (Å^3). Watch the volume settle from the
    noise cell's to the crystal's. Everywhere else it is :func:`trajectory_figure`,
    which plays in exported HTML too.

    Args:
        states: ``model.sample_trajectory(...)`` output or a list of structures
            (see :func:`trajectory_frames`).
        crystal: which crystal of each batch to follow.
        backend: ``"auto"``, ``"nglview"`` (the live player) or ``"plotly"`` (the figure).
        max_frames: at most this many frames, evenly spread, first and last always included.
        height: height of the crystal drawing in pixels.

    Returns:
        plotly: the figure of :func:`trajectory_figure`. nglview: an
        ``ipywidgets.VBox`` holding the caption (``.children[0]``, HTML), a row
        with the ``Play`` button and the ``IntSlider`` over frames
        (``.children[1]``), and the drawing (``.children[2]``, like :func:`crystalkit.widgets.view`:
        the legend above the ``nglview.NGLWidget``). Its ``.steps`` lists the sampling step of each frame.

    Raises:
        CrystalInputError: see :func:`trajectory_figure`, or an unknown backend.
    """
    if resolve_backend(backend) == "plotly":
        return trajectory_figure(states, crystal, max_frames=max_frames, height=height)
    frames = trajectory_frames(states, crystal)
    steps = _shown_steps(len(frames), max_frames)
    shown = [_drawable(frames[step], step) for step in steps]
    return _live_player(shown, steps, last_step=len(frames) - 1, height=height)


def _live_player(shown: Sequence[Structure], steps: list[int], *, last_step: int, height: int) -> ipywidgets.VBox:
    """The ipywidgets player: caption, play button and slider, and one nglview widget whose crystal is swapped.

    The slider's value is the index of the frame shown. Each move sends the
    frame's crystal to the same nglview widget (never a new one: see
    :mod:`crystalkit.widgets.ngl`), whose camera was fitted to every frame.
    """
    import ipywidgets

    from crystalkit.widgets.ngl import legend_html, replace_structure, swappable_widget

    crystal = swappable_widget(shown, height=f"{height}px")
    legend = ipywidgets.HTML()
    legend.add_class("crystalkit-legend")
    caption = ipywidgets.HTML()
    play = ipywidgets.Play(value=0, min=0, max=len(shown) - 1, step=1, interval=2 * _FRAME_MS, description="play")
    slider = ipywidgets.IntSlider(value=0, min=0, max=len(shown) - 1, step=1, description="frame", readout=False)
    ipywidgets.jslink((play, "value"), (slider, "value"))  # the browser moves the slider as it plays
    drawn = {"index": 0}  # the frame the nglview widget shows

    def show(index: int) -> None:
        structure, step = shown[index], steps[index]
        caption.value = f'<div style="font-family:sans-serif">{_caption(structure, step, last_step)}</div>'
        legend.value = legend_html(structure, title=structure.composition.reduced_formula)
        if index != drawn["index"]:
            replace_structure(crystal, structure)
            drawn["index"] = index

    slider.observe(lambda change: show(change["new"]), names="value")
    show(0)
    drawing = ipywidgets.VBox([legend, crystal])
    drawing.add_class("crystalkit-viewer")
    player = ipywidgets.VBox([caption, ipywidgets.HBox([play, slider]), drawing])
    player.add_class("crystalkit-trajectory")
    player.steps = steps
    return player


# ----------------------------------------------------------------------------- helpers
def _shown_steps(count: int, max_frames: int) -> list[int]:
    """At most ``max_frames`` evenly spread indices into ``count`` frames, first and last included.

    Integer rounding of ``i * (count - 1) / (m - 1)``: with ``m <= count`` the
    spacing is at least one step, so no index repeats.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, numbers.Integral) or max_frames < 2:
        raise CrystalInputError(
            f"max_frames must be an integer >= 2 (the first and last steps are always shown), got {max_frames!r}."
        )
    m = min(int(max_frames), count)
    if m == 1:
        return [0]
    return [(i * (count - 1) + (m - 1) // 2) // (m - 1) for i in range(m)]


def _drawable(structure: Structure, step: int) -> Structure:
    """The frame, checked for drawing; the error names the step."""
    try:
        return check_drawable(structure)
    except CrystalInputError as error:
        raise CrystalInputError(f"Step {step} of the trajectory cannot be drawn: {error}") from error


def _labels_in_order(frames: Sequence[Structure]) -> list[str]:
    """Every site label (element) of every frame, in order of first appearance: one trace each."""
    labels: dict[str, None] = {}
    for frame in frames:
        for index in range(len(frame)):
            labels.setdefault(site_label(frame, index), None)
    return list(labels)


def _frame_traces(structure: Structure, labels: Sequence[str]) -> list[go.Scatter3d]:
    """One frame's traces in a fixed layout: a marker trace per label (maybe empty), cell edges, a/b/c labels."""
    return _crystal_traces(structure, (1, 1, 1), boundary_atoms=False, atom_size=ATOM_SIZE, in_legend=set(),
                           trace_labels=labels)


def _fixed_ranges(frames: Sequence[Structure]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Scene axis ranges (Å) holding every atom, cell corner and a/b/c label of every frame.

    Returns the ranges by axis name (``"xaxis"`` ...) and the aspect ratio that
    keeps true proportions (one Å as long on every axis).
    """
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)  # (8, 3)
    points = []
    for frame in frames:
        matrix = frame.lattice.matrix  # (3, 3)
        points += [corners @ matrix, matrix * 1.08, supercell_positions(frame, (1, 1, 1))[2]]
    points = np.concatenate(points)  # (P, 3)
    low, high = points.min(axis=0) - _PADDING, points.max(axis=0) + _PADDING  # (3,), (3,)
    extent = high - low  # (3,)
    ratio = _ZOOM * extent / extent.max()  # (3,) one Å as long on every axis
    ranges = {f"{axis}axis": [float(low[i]), float(high[i])] for i, axis in enumerate("xyz")}
    return ranges, dict(zip("xyz", ratio.tolist()))


def _fixed_scene(frames: Sequence[Structure]) -> dict:
    """The scene of the film: seen as the final crystal is best seen, axis ranges fixed to hold every frame."""
    scene = _scene_layout(frames[-1], show_axes=False)  # look at the final crystal from its best side
    ranges, ratio = _fixed_ranges(frames)
    scene.update(aspectmode="manual", aspectratio=ratio)
    for axis, axis_range in ranges.items():
        scene[axis] = dict(scene[axis], range=axis_range, autorange=False)
    return scene


def _animation_controls(names: Sequence[str]) -> dict:
    """Layout entries of a plotly animation over the frames ``names``: a slider and play / pause buttons."""
    goto = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    play = dict(frame=dict(duration=_FRAME_MS, redraw=True), transition=dict(duration=0), fromcurrent=True)
    slider = dict(
        active=0,
        currentvalue=dict(visible=False),
        pad=dict(t=10, b=10),
        len=0.85, x=0.15,
        steps=[dict(label=name, method="animate", args=[[name], goto]) for name in names],
    )
    buttons = dict(
        type="buttons", direction="left", showactive=False,
        x=0.0, xanchor="left", y=0.0, yanchor="top", pad=dict(t=10, r=10),
        buttons=[
            dict(label="▶ play", method="animate", args=[None, play]),
            dict(label="❚❚ pause", method="animate", args=[[None], goto]),
        ],
    )
    return dict(sliders=[slider], updatemenus=[buttons])


def _step_name(step: int, last_step: int) -> str:
    """Slider label of a sampling step: ``"step 0 (noise)"``, ``"step 12"``, ..."""
    return "step 0 (noise)" if step == 0 and last_step > 0 else f"step {step}"


def _caption(structure: Structure, step: int, last_step: int) -> str:
    """One line about a frame: step, formula, cell lengths (Å), angles (°), volume (Å^3)."""
    lattice = structure.lattice
    lengths = ", ".join(f"{value:.2f}" for value in lattice.abc)
    angles = ", ".join(f"{value:.1f}" for value in lattice.angles)
    return (
        f"step {step} of {last_step} · {structure.composition.reduced_formula} · "
        f"a, b, c = {lengths} Å · α, β, γ = {angles}° · V = {lattice.volume:.1f} Å³"
    )
