"""Tests for crystalkit.widgets: figure contents, supercells, backend choice, nglview path, bad input.

Nothing here needs a browser: plotly figures are inspected as data, and the
nglview widget is built (it needs no front end to exist). The end-to-end
drawing in JupyterLab is tests/test_browser.py.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Molecule, Structure

from crystalkit.errors import CrystalInputError
from crystalkit.widgets import (
    JMOL_COLORS,
    VIEWER_ENV_VAR,
    crystal_figure,
    element_color,
    gallery,
    nglview_widget,
    resolve_backend,
    view,
)
from crystalkit.widgets import backend as backend_module
from crystalkit.widgets.colors import FALLBACK_COLOR, mix_colors, site_color
from crystalkit.widgets.ngl import import_nglview


# ----------------------------------------------------------------------------- structures and helpers
def cubic_srtio3() -> Structure:
    """Cubic perovskite SrTiO3, a = 3.905 Å, 5 atoms."""
    return Structure(
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def triclinic_salt() -> Structure:
    """A low-symmetry cell with three different edge lengths (Å) and angles (degrees)."""
    lattice = Lattice.from_parameters(3.0, 4.0, 5.0, 80.0, 95.0, 105.0)
    return Structure(lattice, ["Na", "Cl", "Cl"], [[0.1, 0.2, 0.3], [0.6, 0.7, 0.2], [0.4, 0.1, 0.8]])


def graphite() -> Structure:
    """AB-stacked graphite, a = 2.46 Å, c = 6.7 Å, 4 atoms."""
    coords = [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return Structure(Lattice.hexagonal(2.46, 6.7), ["C"] * 4, coords)


def disordered() -> Structure:
    """SrTiO3 with the A site half Sr, half Ba."""
    structure = cubic_srtio3()
    structure.replace(0, Composition({"Sr": 0.5, "Ba": 0.5}))
    return structure


def atom_traces(figure):
    return [trace for trace in figure.data if trace.mode == "markers"]


def trace_named(figure, name):
    (trace,) = [trace for trace in figure.data if trace.name == name]
    return trace


def marker_positions(figure) -> np.ndarray:
    """(M, 3) Cartesian positions of every atom marker in a figure."""
    return np.concatenate([np.column_stack([t.x, t.y, t.z]) for t in atom_traces(figure)]).astype(float)


def edge_segments(trace) -> np.ndarray:
    """(E, 2, 3) segments of a line trace whose segments are separated by None."""
    points = np.column_stack([trace.x, trace.y, trace.z])
    segments = [points[i : i + 2] for i in range(0, len(points), 3)]
    return np.array(segments, dtype=float)


def same_points(a: np.ndarray, b: np.ndarray, atol: float = 1e-6) -> bool:
    """True if two (M, 3) point sets are equal up to order."""
    if a.shape != b.shape:
        return False
    order_a = np.lexsort(np.round(a, 4).T[::-1])
    order_b = np.lexsort(np.round(b, 4).T[::-1])
    return np.allclose(a[order_a], b[order_b], atol=atol)


def ngl_pdb_text(widget) -> str:
    """The PDB text nglview sends to the browser for the structure component."""
    for message in widget._ngl_msg_archive:
        if message.get("methodName") == "loadFile":
            return message["args"][0]["data"]
    raise AssertionError("no loadFile message in the widget")


@pytest.fixture
def no_viewer_env(monkeypatch):
    monkeypatch.delenv(VIEWER_ENV_VAR, raising=False)


# ----------------------------------------------------------------------------- plotly figure contents
@pytest.mark.parametrize("supercell, copies", [((1, 1, 1), 1), ((2, 1, 1), 2), ((2, 2, 3), 12), (2, 8)])
def test_one_marker_per_atom_of_the_supercell(supercell, copies):
    figure = crystal_figure(cubic_srtio3(), supercell)
    counts = {trace.name: len(trace.x) for trace in atom_traces(figure)}
    assert counts == {"Sr": copies, "Ti": copies, "O": 3 * copies}


@pytest.mark.parametrize(
    "structure", [cubic_srtio3(), triclinic_salt(), graphite()], ids=["cubic", "triclinic", "hexagonal"]
)
def test_markers_sit_where_pymatgen_puts_the_supercell_atoms(structure):
    supercell = (2, 1, 3)
    expected = (structure * supercell).cart_coords  # pymatgen's own supercell, an independent reference
    assert same_points(marker_positions(crystal_figure(structure, supercell)), expected)


def test_legend_lists_each_element_once_and_nothing_else():
    figure = crystal_figure(cubic_srtio3(), (2, 2, 2))
    legend = [trace.name for trace in figure.data if trace.showlegend]
    assert legend == ["Sr", "Ti", "O"]


def test_unit_cell_edges_have_the_lattice_lengths():
    structure = triclinic_salt()
    segments = edge_segments(trace_named(crystal_figure(structure), "unit cell"))
    assert segments.shape == (12, 2, 3)
    lengths = np.sort(np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1))
    np.testing.assert_allclose(lengths, np.repeat([3.0, 4.0, 5.0], 4), atol=1e-9)
    corners = np.unique(np.round(segments.reshape(-1, 3), 6), axis=0)
    assert len(corners) == 8
    assert np.allclose(corners.min(axis=0), np.minimum(0, structure.lattice.matrix).sum(axis=0), atol=1e-6)


def test_supercell_outline_only_for_a_supercell():
    names = {trace.name for trace in crystal_figure(cubic_srtio3()).data}
    assert "unit cell" in names and "supercell" not in names
    outline = trace_named(crystal_figure(cubic_srtio3(), (3, 1, 2)), "supercell")
    lengths = np.linalg.norm(np.diff(edge_segments(outline), axis=1)[:, 0], axis=1)
    np.testing.assert_allclose(np.sort(lengths), np.repeat([3.905, 2 * 3.905, 3 * 3.905], 4), atol=1e-9)


def test_atoms_are_coloured_with_jmol_colours():
    figure = crystal_figure(cubic_srtio3())
    assert set(trace_named(figure, "O").marker.color) == {"#FF0D0D"}
    assert set(trace_named(figure, "Sr").marker.color) == {JMOL_COLORS["Sr"]}


def test_larger_atoms_get_larger_markers():
    figure = crystal_figure(cubic_srtio3())
    assert trace_named(figure, "Sr").marker.size[0] > trace_named(figure, "O").marker.size[0]


def test_hover_text_names_element_and_fractional_coordinates():
    figure = crystal_figure(cubic_srtio3(), (2, 1, 1))
    texts = trace_named(figure, "Ti").text
    assert len(texts) == 2
    assert all("Ti" in text and "fractional (0.500, 0.500, 0.500)" in text for text in texts)
    assert {"cell copy [0, 0, 0]" in text for text in texts} == {True, False}  # the two copies are told apart


def test_fractional_coordinates_are_wrapped_into_the_cell():
    shifted = Structure(Lattice.cubic(4.0), ["Cu"], [[1.25, -0.5, 0.0]])
    x, y, z = marker_positions(crystal_figure(shifted))[0]
    np.testing.assert_allclose([x, y, z], [1.0, 2.0, 0.0], atol=1e-9)


def test_boundary_atoms_fill_every_corner():
    simple_cubic = Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]])
    assert len(marker_positions(crystal_figure(simple_cubic))) == 1
    assert len(marker_positions(crystal_figure(simple_cubic, boundary_atoms=True))) == 8
    assert len(marker_positions(crystal_figure(simple_cubic, 2, boundary_atoms=True))) == 27
    # SrTiO3: Sr at the 8 corners, Ti in the middle, O at the 6 face centres.
    counts = {t.name: len(t.x) for t in atom_traces(crystal_figure(cubic_srtio3(), boundary_atoms=True))}
    assert counts == {"Sr": 8, "Ti": 1, "O": 6}


def test_default_title_gives_formula_and_space_group():
    assert crystal_figure(cubic_srtio3()).layout.title.text == "SrTiO3 · Pm-3m (No. 221)"
    assert crystal_figure(cubic_srtio3(), title="my crystal").layout.title.text == "my crystal"


def test_camera_keeps_c_upright():
    structure = triclinic_salt()
    camera = crystal_figure(structure).layout.scene.camera
    up = np.array([camera.up.x, camera.up.y, camera.up.z])
    c = structure.lattice.matrix[2]
    np.testing.assert_allclose(up, c / np.linalg.norm(c), atol=1e-9)


def test_figure_serialises_to_html():
    html = crystal_figure(cubic_srtio3(), 2).to_html(include_plotlyjs=False, full_html=False)
    assert "scatter3d" in html


# ----------------------------------------------------------------------------- partial occupancy
def test_disordered_site_gets_mixed_colour_and_its_own_legend_entry():
    figure = crystal_figure(disordered())
    mixed = trace_named(figure, "Ba0.5Sr0.5")
    assert set(mixed.marker.color) == {mix_colors({JMOL_COLORS["Sr"]: 0.5, JMOL_COLORS["Ba"]: 0.5})}
    assert [trace.name for trace in figure.data if trace.showlegend] == ["Ba0.5Sr0.5", "Ti", "O"]
    assert "Ba:0.5, Sr:0.5" in mixed.text[0]  # hover gives the occupancies


def test_auto_mode_sends_disorder_to_plotly_and_nglview_refuses_it(monkeypatch):
    monkeypatch.setenv(VIEWER_ENV_VAR, "nglview")
    import plotly.graph_objects as go

    assert isinstance(view(disordered()), go.Figure)
    with pytest.raises(CrystalInputError, match="partially occupied"):
        view(disordered(), backend="nglview")


# ----------------------------------------------------------------------------- gallery
def test_gallery_has_one_scene_per_structure_and_titles():
    structures = [cubic_srtio3(), graphite(), triclinic_salt(), cubic_srtio3()]
    figure = gallery(structures, columns=3)
    scenes = {trace.scene for trace in figure.data}
    assert len(scenes) == 4
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles[:2] == ["SrTiO3 · Pm-3m (No. 221)", "C · P6_3/mmc (No. 194)"]
    assert len(marker_positions(figure)) == 5 + 4 + 3 + 5


def test_gallery_legend_lists_each_element_once():
    figure = gallery([cubic_srtio3(), graphite(), cubic_srtio3()])
    legend = [trace.name for trace in figure.data if trace.showlegend]
    assert sorted(legend) == ["C", "O", "Sr", "Ti"]


def test_gallery_custom_titles_and_supercell():
    figure = gallery([cubic_srtio3(), graphite()], titles=["one", "two"], supercell=(2, 2, 1))
    assert [annotation.text for annotation in figure.layout.annotations] == ["one", "two"]
    assert len(marker_positions(figure)) == 4 * (5 + 4)


@pytest.mark.parametrize(
    "structures, kwargs, message",
    [
        ([], {}, "empty"),
        (cubic_srtio3(), {}, "list of structures"),
        ([cubic_srtio3(), "NaCl"], {}, "Structure 1"),
        ([cubic_srtio3(), graphite()], {"titles": ["only one"]}, "one title per structure"),
        ([cubic_srtio3()], {"titles": "a string"}, "one title per structure"),
        ([cubic_srtio3()], {"columns": 0}, "columns"),
        ([cubic_srtio3()], {"supercell": (0, 1, 1)}, "supercell"),
    ],
)
def test_gallery_rejects_bad_input(structures, kwargs, message):
    with pytest.raises(CrystalInputError, match=message):
        gallery(structures, **kwargs)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "structure, message",
    [
        (None, "Expected a periodic pymatgen Structure"),
        ("SrTiO3", "Expected a periodic pymatgen Structure"),
        (Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]), "Molecule is not periodic"),
        (Structure(Lattice.cubic(3.0), [], []), "empty"),
    ],
)
@pytest.mark.parametrize("backend", ["plotly", "nglview"])
def test_view_rejects_what_is_not_a_crystal(structure, message, backend):
    with pytest.raises(CrystalInputError, match=message):
        view(structure, backend=backend)


@pytest.mark.parametrize("supercell", [(0, 1, 1), (2, -1, 1), (2, 2), (1.5, 1, 1), "222", True, 0, None, (1, 1, 1, 1)])
@pytest.mark.parametrize("backend", ["plotly", "nglview"])
def test_view_rejects_bad_supercells(supercell, backend):
    with pytest.raises(CrystalInputError, match="supercell"):
        view(cubic_srtio3(), supercell=supercell, backend=backend)


def test_overlapping_atoms_are_drawn_not_refused():
    """A generative model's failures must be inspectable: atoms 0.1 Å apart are drawn."""
    clash = Structure(Lattice.cubic(4.0), ["Si", "Si"], [[0, 0, 0], [0.025, 0, 0]])
    assert len(marker_positions(crystal_figure(clash))) == 2


def test_unknown_backend_and_style_are_refused(monkeypatch):
    with pytest.raises(CrystalInputError, match="Unknown viewer backend"):
        view(cubic_srtio3(), backend="pymol")
    with pytest.raises(CrystalInputError, match="Unknown style"):
        view(cubic_srtio3(), backend="nglview", style="cartoon")
    monkeypatch.setenv(VIEWER_ENV_VAR, "vesta")
    with pytest.raises(CrystalInputError, match=VIEWER_ENV_VAR):
        view(cubic_srtio3())


# ----------------------------------------------------------------------------- backend selection rule
@pytest.mark.parametrize("forced", ["plotly", "nglview", "PLOTLY "])
def test_environment_variable_forces_the_backend(monkeypatch, forced):
    monkeypatch.setenv(VIEWER_ENV_VAR, forced)
    assert resolve_backend("auto") == forced.strip().lower()


def test_explicit_backend_beats_the_environment_variable(monkeypatch):
    monkeypatch.setenv(VIEWER_ENV_VAR, "nglview")
    assert resolve_backend("plotly") == "plotly"
    monkeypatch.setenv(VIEWER_ENV_VAR, "plotly")
    assert resolve_backend("nglview") == "nglview"


def test_auto_outside_a_live_jupyter_session_is_plotly(no_viewer_env):
    import plotly.graph_objects as go

    assert not backend_module.in_live_jupyter_session()  # pytest is no kernel
    assert resolve_backend("auto") == "plotly"
    assert isinstance(view(cubic_srtio3()), go.Figure)
    assert isinstance(view(cubic_srtio3(), backend="plotly"), go.Figure)


def test_auto_inside_a_live_session_is_nglview_when_its_front_end_matches(monkeypatch, no_viewer_env):
    monkeypatch.setattr(backend_module, "in_live_jupyter_session", lambda: True)
    monkeypatch.setattr(backend_module, "nglview_frontend_problem", lambda: None)
    assert resolve_backend("auto") == "nglview"
    monkeypatch.setattr(backend_module, "nglview_frontend_problem", lambda: "extension is 3.1.5.")
    with pytest.warns(UserWarning, match="extension is 3.1.5"):
        assert resolve_backend("auto") == "plotly"


@pytest.mark.slow
def test_headless_kernel_picks_plotly_and_outputs_a_plotly_figure(monkeypatch, no_viewer_env):
    """A notebook executed headless (nbclient, as papermill does) gets plotly in auto mode."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setenv("PLOTLY_RENDERER", "plotly_mimetype")  # don't embed plotly.js in the output: faster
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from pymatgen.core import Lattice, Structure\n"
            "from crystalkit.widgets import resolve_backend, view\n"
            "print(resolve_backend())"
        ),
        nbformat.v4.new_code_cell("view(Structure(Lattice.cubic(4.2), ['Cs', 'Cl'], [[0, 0, 0], [0.5, 0.5, 0.5]]))"),
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert notebook.cells[0].outputs[0]["text"].strip() == "plotly"
    assert "application/vnd.plotly.v1+json" in notebook.cells[1].outputs[0]["data"]


class _FakeShell:
    """Stands in for IPython's shells: only the class name matters to the rule."""


def _shell_named(name: str):
    return type(name, (_FakeShell,), {})()


@pytest.mark.parametrize(
    "shell_name, session, live",
    [
        ("ZMQInteractiveShell", "/home/me/notebook.ipynb", True),  # kernel started by jupyter_server
        ("ZMQInteractiveShell", None, False),  # kernel started by papermill / nbclient
        ("TerminalInteractiveShell", "/home/me/notebook.ipynb", False),  # IPython in a terminal
        (None, None, False),  # plain Python
    ],
)
def test_live_session_detection(monkeypatch, shell_name, session, live):
    import IPython

    shell = _shell_named(shell_name) if shell_name else None
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    if session is None:
        monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    else:
        monkeypatch.setenv("JPY_SESSION_NAME", session)
    assert backend_module.in_live_jupyter_session() is live


def test_frontend_check_sees_matching_and_mismatched_extensions(monkeypatch):
    assert backend_module.nglview_frontend_problem() is None  # this environment: nglview 3.1.4 on both sides
    monkeypatch.setattr(backend_module, "_installed_extension_versions", lambda name: {"3.1.5"})
    assert "3.1.5" in backend_module.nglview_frontend_problem()
    monkeypatch.setattr(backend_module, "_installed_extension_versions", lambda name: set())
    assert "not installed" in backend_module.nglview_frontend_problem()


# ----------------------------------------------------------------------------- nglview path (no front end)
def test_nglview_backend_builds_a_widget_with_unit_cell_and_legend():
    import ipywidgets

    nglview = import_nglview()

    box = view(cubic_srtio3(), supercell=(2, 2, 2), backend="nglview")
    assert isinstance(box, ipywidgets.VBox)
    legend, widget = box.children
    assert isinstance(widget, nglview.NGLWidget)
    assert [rep["type"] for rep in widget._representations] == ["spacefill", "unitcell"]
    assert widget._representations[0]["params"]["colorScheme"] == "element"
    for symbol in ("Sr", "Ti", "O"):
        assert f"background:{JMOL_COLORS[symbol]}" in legend.value and f"</span> {symbol}</span>" in legend.value
    assert "SrTiO3 · Pm-3m (No. 221)" in legend.value


def test_nglview_gets_every_supercell_atom_and_the_unit_cell():
    widget = nglview_widget(cubic_srtio3(), (2, 1, 3), style="ball+stick")
    pdb = ngl_pdb_text(widget)
    atoms = [line for line in pdb.splitlines() if line.startswith("ATOM")]
    assert len(atoms) == 5 * 6
    assert sum(line[76:78].strip() == "O" for line in atoms) == 3 * 6
    cryst1 = next(line for line in pdb.splitlines() if line.startswith("CRYST1"))
    assert [float(value) for value in cryst1.split()[1:4]] == [3.905, 3.905, 3.905]  # the unit cell, not 2x1x3


def test_nglview_and_plotly_draw_the_same_atoms():
    structure = triclinic_salt()
    pdb = ngl_pdb_text(nglview_widget(structure, (2, 2, 1), boundary_atoms=True))
    ngl_count = sum(line.startswith("ATOM") for line in pdb.splitlines())
    assert ngl_count == len(marker_positions(crystal_figure(structure, (2, 2, 1), boundary_atoms=True)))


def sent_calls(widget, method: str) -> list[dict]:
    """The messages calling NGL's ``method`` that the widget holds for the browser (it has none yet)."""
    waiting = [callback._ngl_msg for callback in widget._ngl_displayed_callbacks_before_loaded]
    return [message for message in waiting if message.get("methodName") == method]


def sheared_srtio3() -> Structure:
    """Notebook 01's badly sheared but equivalent cell of SrTiO3: long, and seen almost end-on."""
    from crystalkit.representations import change_cell

    return change_cell(cubic_srtio3(), matrix=np.array([[1, 3, 1], [0, 1, 2], [0, 1, 3]]))


def camera_of(widget) -> tuple[np.ndarray, float, np.ndarray]:
    """(rotation model -> screen (3, 3), camera distance (Å), centre of rotation (3,)) of the last ``orient`` call."""
    matrix = np.array(sent_calls(widget, "orient")[-1]["args"][0]).reshape(4, 4).T  # column-major -> rows
    distance = np.linalg.norm(matrix[:3, 0])
    return matrix[:3, :3] / distance, float(distance), -matrix[:3, 3]


@pytest.mark.parametrize(("structure", "supercell"), [(cubic_srtio3(), (2, 2, 2)), (sheared_srtio3(), (1, 1, 1))])
def test_nglview_camera_fits_the_cell_outline_on_screen(structure, supercell):
    """The cell's corners fill the canvas height (NGL shows 2 d tan(20°) at distance d), centred, none cut off."""
    from crystalkit.widgets.ngl import _FIT_PADDING, _standard_cell

    widget = nglview_widget(structure, supercell)
    rotation, distance, centre = camera_of(widget)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    cell = _standard_cell(structure.lattice.matrix) * np.array(supercell)[:, None]  # (3, 3) PDB frame
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ cell  # (8, 3)
    np.testing.assert_allclose(centre, corners.mean(axis=0), atol=1e-9)
    on_screen = (corners - centre) @ rotation[:2].T  # (8, 2)
    half_height = distance * np.tan(np.radians(20.0))
    assert np.abs(on_screen).max() + _FIT_PADDING == pytest.approx(half_height)
    radius = np.linalg.norm(corners - centre, axis=1).max()  # a bounding sphere would need this half-height
    if structure.lattice.abc[0] > 10:  # the sheared cell: long along the line of sight
        assert half_height < 0.7 * radius


def test_nglview_draws_without_fog_or_near_clipping():
    calls = sent_calls(nglview_widget(sheared_srtio3()), "setParameters")
    (parameters,) = [call for call in calls if "clipDist" in call["kwargs"]]
    assert parameters["kwargs"]["clipDist"] == 0
    assert parameters["kwargs"]["fogNear"] >= 99 and parameters["kwargs"]["fogFar"] >= parameters["kwargs"]["fogNear"]


def test_swapping_the_crystal_keeps_one_widget_and_sends_the_new_cell_and_elements():
    from crystalkit.widgets.ngl import replace_structure, swappable_widget

    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    widget = swappable_widget([cubic_srtio3(), nacl])
    assert [call["methodName"] for call in sent_calls(widget, "addShape")] == []  # the crystal is the only component
    replace_structure(widget, triclinic_salt())
    replace_structure(widget, nacl, refit=True)
    (swap,) = sent_calls(widget, "replaceStructure")  # the waiting swap was superseded, not queued twice
    pdb = swap["args"][0]["data"]
    cryst1 = next(line for line in pdb.splitlines() if line.startswith("CRYST1"))
    assert [float(value) for value in cryst1.split()[1:4]] == [5.64, 5.64, 5.64]
    assert sorted(line[76:78].strip().title() for line in pdb.splitlines() if line.startswith("ATOM")) == ["Cl", "Na"]
    assert len(sent_calls(widget, "orient")) == 1  # refit replaced the first camera
    _, _, centre = camera_of(widget)
    np.testing.assert_allclose(centre, [2.82, 2.82, 2.82], atol=1e-6)
    assert not [m for m in widget._ngl_msg_archive if m.get("methodName") == "replaceStructure"]  # not archived
    with pytest.raises(CrystalInputError, match="partially occupied"):
        replace_structure(widget, disordered())


def test_importing_nglview_through_the_kit_prints_no_warning_and_leaves_the_filters_alone():
    """nglview 3.1.4 imports pkg_resources, which setuptools 81 says is deprecated: hidden for that import only."""
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('always')  # show every warning, as a learner's kernel would show it\n"
        "from pymatgen.core import Lattice, Structure\n"
        "from crystalkit.widgets import nglview_widget\n"
        "from crystalkit.widgets.ngl import import_nglview\n"
        "before = list(warnings.filters)\n"
        "import_nglview()\n"
        "print('filters unchanged' if warnings.filters == before else 'filters changed')\n"
        "nglview_widget(Structure(Lattice.cubic(4.0), ['Na'], [[0, 0, 0]]))  # what the first 3-D view does\n"
        "warnings.warn('pkg_resources is deprecated (a warning of my own)', UserWarning)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "filters unchanged"
    assert "pkg_resources is deprecated as an API" not in result.stderr
    assert "a warning of my own" in result.stderr  # the same words from anywhere else still show


def test_nglview_imports_without_pkg_resources(monkeypatch):
    """nglview 3.1.4 imports pkg_resources, which setuptools >= 82 no longer ships."""
    for name in [name for name in sys.modules if name == "nglview" or name.startswith("nglview.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pkg_resources", None)  # makes `import pkg_resources` fail
    module = import_nglview()
    assert module.__version__ == "3.1.4"
    assert sys.modules["pkg_resources"] is None  # the stand-in is gone again


# ----------------------------------------------------------------------------- colours
def test_element_colours():
    assert element_color("O") == "#FF0D0D"
    assert element_color("C") == "#909090"
    assert element_color("Sr2+") == JMOL_COLORS["Sr"]
    assert element_color("Xx") == FALLBACK_COLOR
    assert len(JMOL_COLORS) == 109


def test_colour_mixing():
    assert mix_colors({"#000000": 1, "#FFFFFF": 1}) == "#808080"
    assert mix_colors({"#FF0000": 3, "#0000FF": 1}) == "#BF0040"
    assert site_color(Composition({"O": 1})) == "#FF0D0D"
    with pytest.raises(ValueError):
        mix_colors({})


# ----------------------------------------------------------------------------- package hygiene
def test_importing_widgets_loads_neither_plotly_nor_nglview():
    code = (
        "import sys, crystalkit.widgets; "
        "print(sorted(m for m in ('plotly', 'nglview', 'ipywidgets', 'IPython') if m in sys.modules))"
    )
    with warnings.catch_warnings():
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
