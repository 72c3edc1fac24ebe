"""Tests for crystalkit.widgets.trajectory: frames, fixed trace layout, slider, fixed view, player, bad input.

No model is trained: trajectories are made by hand, interpolating SrTiO3 from a
random cell and random coordinates to the cubic perovskite, which is what a
sampler's output looks like to the widget. Figures are inspected as data.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from pymatgen.core import Lattice, Structure

from crystalkit.data.batch import CrystalBatch
from crystalkit.errors import CrystalInputError
from crystalkit.widgets import VIEWER_ENV_VAR, trajectory_figure, trajectory_player
from crystalkit.widgets.colors import element_color
from crystalkit.widgets.trajectory import _shown_steps, trajectory_frames


# ----------------------------------------------------------------------------- trajectories
def cubic_srtio3() -> Structure:
    """Cubic perovskite SrTiO3, a = 3.905 Å, 5 atoms."""
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def noise_to_srtio3(count: int = 30, seed: int = 0) -> list[Structure]:
    """``count`` frames from a random skewed cell and random coordinates to cubic SrTiO3.

    The start coordinates lie outside [0, 1) on purpose, so drawing must wrap them.
    """
    rng = np.random.default_rng(seed)
    final = cubic_srtio3()
    start_lattice = final.lattice.matrix + 4.0 * np.eye(3) + 1.5 * rng.normal(size=(3, 3))  # (3, 3) Å
    start_frac = rng.uniform(-1.0, 2.0, size=(len(final), 3))  # (5, 3) fractional, not wrapped
    frames = []
    for t in np.linspace(0.0, 1.0, count):
        lattice = (1 - t) * start_lattice + t * final.lattice.matrix
        frac = (1 - t) * start_frac + t * final.frac_coords
        frames.append(Structure(Lattice(lattice), final.species, frac))
    return frames


def marker_traces(data) -> list:
    return [trace for trace in data if trace.mode == "markers"]


def wrapped_cart(structure: Structure) -> np.ndarray:
    """``(N, 3)`` Cartesian positions (Å) after wrapping fractional coordinates into [0, 1)."""
    return np.mod(structure.frac_coords, 1.0) @ structure.lattice.matrix


def drawn_positions(frame_data) -> dict[str, np.ndarray]:
    """Marker positions by trace name, ``(M, 3)`` each."""
    return {
        trace.name: np.column_stack([np.asarray(axis, float) for axis in (trace.x, trace.y, trace.z)])
        if len(trace.x) else np.zeros((0, 3))
        for trace in marker_traces(frame_data)
    }


# ----------------------------------------------------------------------------- trajectory_frames
def test_frames_from_structures_are_a_new_list_of_the_same_structures():
    trajectory = noise_to_srtio3(5)
    frames = trajectory_frames(trajectory)
    assert frames == trajectory and frames is not trajectory


def test_frames_from_batches_follow_the_chosen_crystal():
    srtio3, other = noise_to_srtio3(6), noise_to_srtio3(6, seed=1)
    other = [Structure(s.lattice, ["Ba", "Zr", "O", "O", "O"], s.frac_coords) for s in other]
    states = [CrystalBatch.from_structures([a, b], check=False) for a, b in zip(srtio3, other)]
    for crystal, expected in ((0, srtio3), (1, other), (-1, other)):
        frames = trajectory_frames(states, crystal)
        assert len(frames) == 6
        for frame, structure in zip(frames, expected):
            assert [site.specie.symbol for site in frame] == [site.specie.symbol for site in structure]
            np.testing.assert_allclose(frame.frac_coords, structure.frac_coords, atol=1e-12)
            np.testing.assert_allclose(frame.lattice.matrix, structure.lattice.matrix, atol=1e-12)


@pytest.mark.parametrize(
    ("states", "crystal", "message"),
    [
        ([], 0, "empty"),
        (cubic_srtio3(), 0, "list of frames"),
        ([cubic_srtio3(), "SrTiO3"], 0, "Frame 1 is a str"),
        ([cubic_srtio3(), Structure(Lattice.cubic(3.9), ["Sr"], [[0, 0, 0]])], 0, "frame 1 has 1"),
        ([cubic_srtio3()], 1, "leave crystal at 0"),
        ([cubic_srtio3()], 0.5, "integer"),
    ],
)
def test_bad_structure_lists_are_refused(states, crystal, message):
    with pytest.raises(CrystalInputError, match=message):
        trajectory_frames(states, crystal)


def test_bad_batch_lists_are_refused():
    batch = CrystalBatch.from_structures([cubic_srtio3(), cubic_srtio3()])
    with pytest.raises(CrystalInputError, match="out of range"):
        trajectory_frames([batch, batch], crystal=2)
    with pytest.raises(CrystalInputError, match="out of range"):
        trajectory_frames([batch], crystal=-3)
    with pytest.raises(CrystalInputError, match="list of frames"):
        trajectory_frames(batch)
    with pytest.raises(CrystalInputError, match="CrystalBatch"):
        trajectory_frames([batch, cubic_srtio3()])
    smaller = cubic_srtio3()
    smaller.remove_sites([4])
    with pytest.raises(CrystalInputError, match="same atoms"):
        trajectory_frames([batch, CrystalBatch.from_structures([smaller, smaller])])


# ----------------------------------------------------------------------------- subsampling
@pytest.mark.parametrize(("count", "max_frames"), [(30, 7), (30, 2), (51, 40), (40, 40), (10, 40), (2, 2), (1, 5)])
def test_shown_steps_are_evenly_spread_distinct_and_keep_both_ends(count, max_frames):
    steps = _shown_steps(count, max_frames)
    assert len(steps) == min(count, max_frames)
    assert steps[0] == 0 and steps[-1] == count - 1
    assert np.all(np.diff(steps) > 0)
    gaps = np.diff(steps)
    assert len(gaps) == 0 or gaps.max() - gaps.min() <= 1  # evenly spread


def test_figure_frame_count_is_capped_and_keeps_first_and_last():
    figure = trajectory_figure(noise_to_srtio3(30), max_frames=7)
    assert len(figure.frames) == 7
    steps = figure.layout.meta["steps"]
    assert steps[0] == 0 and steps[-1] == 29
    assert [frame.name for frame in figure.frames] == ["step 0 (noise)"] + [f"step {s}" for s in steps[1:]]


@pytest.mark.parametrize("max_frames", [1, 0, 2.5, True])
def test_bad_max_frames_is_refused(max_frames):
    with pytest.raises(CrystalInputError, match="max_frames"):
        trajectory_figure(noise_to_srtio3(5), max_frames=max_frames)


# ----------------------------------------------------------------------------- the figure
def test_every_frame_has_the_same_traces_and_the_figure_starts_at_step_0():
    trajectory = noise_to_srtio3(12)
    figure = trajectory_figure(trajectory)
    layouts = [[(trace.type, trace.mode, trace.name) for trace in frame.data] for frame in figure.frames]
    assert all(layout == layouts[0] for layout in layouts)
    assert [(trace.type, trace.mode, trace.name) for trace in figure.data] == layouts[0]
    assert [trace.name for trace in marker_traces(figure.data)] == ["Sr", "Ti", "O"]
    for name, cart in drawn_positions(figure.data).items():
        np.testing.assert_allclose(cart, drawn_positions(figure.frames[0].data)[name])


def test_last_frame_draws_the_final_crystal_and_the_first_wraps_the_noise():
    trajectory = noise_to_srtio3(20)
    figure = trajectory_figure(trajectory, max_frames=5)
    for frame, structure in ((figure.frames[-1], trajectory[-1]), (figure.frames[0], trajectory[0])):
        positions = drawn_positions(frame.data)
        cart = wrapped_cart(structure)
        for symbol, rows in (("Sr", [0]), ("Ti", [1]), ("O", [2, 3, 4])):
            np.testing.assert_allclose(positions[symbol], cart[rows], atol=1e-9)
        cell = next(trace for trace in frame.data if trace.name == "unit cell")
        points = np.array([p for p in zip(cell.x, cell.y, cell.z) if p[0] is not None], float)
        corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ structure.lattice.matrix
        assert {tuple(p) for p in np.round(points, 9)} == {tuple(p) for p in np.round(corners, 9)}
    assert np.any(np.abs(trajectory[0].frac_coords - np.mod(trajectory[0].frac_coords, 1.0)) > 0.1)  # noise was wrapped


def test_atoms_are_coloured_like_the_viewer():
    figure = trajectory_figure(noise_to_srtio3(4))
    for trace in marker_traces(figure.frames[-1].data):
        assert set(trace.marker.color) == {element_color(trace.name)}


def test_slider_has_one_step_per_frame_that_animates_to_it():
    figure = trajectory_figure(noise_to_srtio3(30), max_frames=10)
    slider = figure.layout.sliders[0]
    assert len(slider.steps) == len(figure.frames) == 10
    for step, frame in zip(slider.steps, figure.frames):
        assert step.method == "animate" and list(step.args[0]) == [frame.name] and step.label == frame.name
    assert slider.steps[0].label == "step 0 (noise)" and slider.steps[-1].label == "step 29"
    labels = [button.label for button in figure.layout.updatemenus[0].buttons]
    assert len(labels) == 2 and "play" in labels[0] and "pause" in labels[1]
    # each frame's title names its step and cell volume
    assert "step 29 of 29" in figure.frames[-1].layout.title.text
    assert f"V = {cubic_srtio3().volume:.1f} Å³" in figure.frames[-1].layout.title.text


def test_elements_may_change_between_frames_without_changing_the_trace_layout():
    """De novo sampling: atom 0 is Sr, then Ba, then La; each frame puts it in its element's trace."""
    base = cubic_srtio3()
    symbols = ["Sr", "Ba", "La"]
    frames = [Structure(base.lattice, [symbol] + ["Ti", "O", "O", "O"], base.frac_coords) for symbol in symbols]
    figure = trajectory_figure(frames)
    assert [trace.name for trace in marker_traces(figure.data)] == ["Sr", "Ti", "O", "Ba", "La"]
    counts = {len(frame.data) for frame in figure.frames}
    assert counts == {len(figure.data)}
    atom0 = base.lattice.get_cartesian_coords(base.frac_coords[0])
    for frame, symbol in zip(figure.frames, symbols):
        positions = drawn_positions(frame.data)
        for name in ("Sr", "Ba", "La"):
            expected = atom0[None, :] if name == symbol else np.zeros((0, 3))
            np.testing.assert_allclose(positions[name], expected, atol=1e-9)
        assert len(positions["O"]) == 3


def test_axis_ranges_are_fixed_and_hold_every_atom_and_cell_corner():
    trajectory = noise_to_srtio3(30)
    figure = trajectory_figure(trajectory, max_frames=8)
    scene = figure.layout.scene
    low = np.array([scene.xaxis.range[0], scene.yaxis.range[0], scene.zaxis.range[0]])
    high = np.array([scene.xaxis.range[1], scene.yaxis.range[1], scene.zaxis.range[1]])
    assert scene.aspectmode == "manual"
    ratio = np.array([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z])
    np.testing.assert_allclose(ratio / ratio.max(), (high - low) / (high - low).max())  # one Å as long on every axis
    assert all(frame.layout.scene is None or frame.layout.scene.xaxis.range is None for frame in figure.frames)
    for frame in figure.frames:
        points = np.concatenate(
            [np.array([p for p in zip(t.x, t.y, t.z) if p[0] is not None], float).reshape(-1, 3) for t in frame.data]
        )
        assert np.all(points >= low) and np.all(points <= high)


def test_a_frame_that_cannot_be_drawn_is_named():
    frames = noise_to_srtio3(3)
    frames[1] = Structure(Lattice([[3, 0, 0], [0, 3, 0], [3, 3, 0]]), frames[1].species, frames[1].frac_coords)
    with pytest.raises(CrystalInputError, match="Step 1"):
        trajectory_figure(frames)


def test_figure_accepts_sample_trajectory_output():
    trajectory = noise_to_srtio3(8)
    states = [CrystalBatch.from_structures([s, cubic_srtio3()], check=False) for s in trajectory]
    figure = trajectory_figure(states, crystal=0, title="my run")
    assert len(figure.frames) == 8 and figure.layout.title.text.startswith("my run")
    np.testing.assert_allclose(drawn_positions(figure.frames[-1].data)["Sr"], [[0, 0, 0]], atol=1e-9)
    assert isinstance(figure.to_html(include_plotlyjs=False), str)  # serialisable as a static page


# ----------------------------------------------------------------------------- the player
def test_player_is_the_figure_with_plotly(monkeypatch):
    assert isinstance(trajectory_player(noise_to_srtio3(5), backend="plotly"), go.Figure)
    monkeypatch.setenv(VIEWER_ENV_VAR, "plotly")
    assert isinstance(trajectory_player(noise_to_srtio3(5)), go.Figure)
    with pytest.raises(CrystalInputError, match="backend"):
        trajectory_player(noise_to_srtio3(5), backend="povray")


def waiting_swaps(widget) -> list[str]:
    """PDB texts of the crystal swaps the nglview widget holds for the browser (it has none here)."""
    return [
        callback._ngl_msg["args"][0]["data"]
        for callback in widget._ngl_displayed_callbacks_before_loaded
        if callback._method_name == "replaceStructure"
    ]


def pdb_cell_lengths(pdb: str) -> list[float]:
    return [float(value) for value in next(line for line in pdb.splitlines() if line.startswith("CRYST1")).split()[1:4]]


def test_live_player_slider_moves_the_caption():
    import ipywidgets

    trajectory = noise_to_srtio3(30)
    player = trajectory_player(trajectory, backend="nglview", max_frames=6)
    assert isinstance(player, ipywidgets.VBox)
    caption, controls, _ = player.children
    play, slider = controls.children
    assert isinstance(play, ipywidgets.Play) and isinstance(slider, ipywidgets.IntSlider)
    assert slider.max == play.max == len(player.steps) - 1 == 5
    assert "step 0 of 29" in caption.value
    first = caption.value
    slider.value = slider.max
    assert caption.value != first
    final = cubic_srtio3().lattice
    assert "step 29 of 29" in caption.value
    lengths = ", ".join(f"{value:.2f}" for value in final.abc)
    assert f"V = {final.volume:.1f} Å³" in caption.value and f"{lengths} Å" in caption.value
    assert "90.0, 90.0, 90.0°" in caption.value


def test_live_player_moves_the_atoms_of_one_nglview_widget(monkeypatch):
    """Every frame goes to the same widget (one WebGL context), with its own cell; no widget is made per frame."""
    import nglview

    made = []
    original_init = nglview.NGLWidget.__init__

    def counting_init(self, *args, **kwargs):
        made.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(nglview.NGLWidget, "__init__", counting_init)
    trajectory = noise_to_srtio3(30)
    player = trajectory_player(trajectory, backend="nglview", max_frames=6)
    _, widget = player.children[2].children
    assert made == [widget] and isinstance(widget, nglview.NGLWidget)
    assert waiting_swaps(widget) == []  # frame 0 is what the widget was built with
    slider = player.children[1].children[1]
    for index in range(1, slider.max + 1):
        slider.value = index
        (pdb,) = waiting_swaps(widget)  # only the newest frame waits for the browser
        frame = trajectory[player.steps[index]]
        np.testing.assert_allclose(pdb_cell_lengths(pdb), frame.lattice.abc, atol=1e-3)
        assert sum(line.startswith("ATOM") for line in pdb.splitlines()) == len(frame)
    slider.value = 0
    np.testing.assert_allclose(pdb_cell_lengths(waiting_swaps(widget)[0]), trajectory[0].lattice.abc, atol=1e-3)
    assert made == [widget]
    assert not [m for m in widget._ngl_msg_archive if m.get("methodName") == "replaceStructure"]


def test_live_player_recolours_atoms_and_legend_when_elements_change():
    """De novo sampling: atom 0 turns from Sr into Ba; the swapped crystal and the legend say so."""
    base = cubic_srtio3()
    frames = [Structure(base.lattice, [symbol] + ["Ti", "O", "O", "O"], base.frac_coords) for symbol in ("Sr", "Ba")]
    player = trajectory_player(frames, backend="nglview")
    legend, widget = player.children[2].children
    assert "SrTiO3" in legend.value and f"background:{element_color('Sr')}" in legend.value
    player.children[1].children[1].value = 1
    (pdb,) = waiting_swaps(widget)
    assert sorted(line[76:78].strip().title() for line in pdb.splitlines() if line.startswith("ATOM")) == [
        "Ba", "O", "O", "O", "Ti"
    ]
    assert "BaTiO3" in legend.value and f"background:{element_color('Ba')}" in legend.value
    assert f"background:{element_color('Sr')}" not in legend.value


def test_live_player_camera_holds_every_frame():
    """The camera is placed once, for the union of all cells, so the view does not jump between frames."""
    from crystalkit.widgets.ngl import _FIT_PADDING, _standard_cell

    trajectory = noise_to_srtio3(10)
    player = trajectory_player(trajectory, backend="nglview")
    widget = player.children[2].children[1]
    (orient,) = [c._ngl_msg for c in widget._ngl_displayed_callbacks_before_loaded if c._method_name == "orient"]
    matrix = np.array(orient["args"][0]).reshape(4, 4).T  # column-major -> rows
    distance = np.linalg.norm(matrix[:3, 0])
    rotation, centre = matrix[:3, :3] / distance, -matrix[:3, 3]
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)  # (8, 3)
    points = np.concatenate([corners @ _standard_cell(frame.lattice.matrix) for frame in trajectory])  # (80, 3)
    on_screen = np.abs((points - centre) @ rotation[:2].T)  # (80, 2)
    half_height = distance * np.tan(np.radians(20.0))
    assert on_screen.max() + _FIT_PADDING == pytest.approx(half_height)  # the largest cell just fits
    player.children[1].children[1].value = 5
    assert len([c for c in widget._ngl_displayed_callbacks_before_loaded if c._method_name == "orient"]) == 1
