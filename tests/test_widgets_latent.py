"""The latent explorer: PCA map, walk, and a live widget whose slider redraws the crystal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models_helpers import perovskites, tiny_backbone

from crystalkit.errors import CrystalInputError
from crystalkit.models import TensorCrystalDataset, TrainConfig, VAE, VAEConfig, train
from crystalkit.widgets.latent import latent_explorer, latent_map, latent_map_figure, latent_walk, pca_2d

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> VAE:
    torch.manual_seed(0)
    vae = VAE(tiny_backbone(), VAEConfig(latent_dim=4, num_steps=3))
    train(vae, TensorCrystalDataset.from_structures(perovskites()),
          config=TrainConfig(max_minutes=None, max_steps=10, batch_size=6, progress=False, device="cpu"))
    return vae.eval()


def test_pca_recovers_the_plane_of_points_that_lie_in_one():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(2, 5))
    points = rng.normal(size=(50, 2)) * [3.0, 1.0] @ plane + 7.0  # (50, 5) inside a 2-D plane, off the origin
    xy, mean, components, explained = pca_2d(points)
    np.testing.assert_allclose(explained.sum(), 1.0, atol=1e-9)  # the plane keeps all the spread
    np.testing.assert_allclose(xy @ components + mean, points, atol=1e-9)  # and projecting back loses nothing
    np.testing.assert_allclose(components @ components.T, np.eye(2), atol=1e-9)
    with pytest.raises(CrystalInputError):
        pca_2d(points[:1])


def test_map_has_one_point_per_crystal_coloured_by_its_label(model):
    structures = perovskites()
    chart = latent_map(model, structures, labels=np.arange(len(structures), dtype=float))
    assert chart.xy.shape == (len(structures), 2) and chart.mu.shape == (len(structures), 4)
    np.testing.assert_allclose(chart.project(chart.mu), chart.xy, atol=1e-9)
    figure = latent_map_figure(chart, ends=(0, 2), walk=chart.mu[[0, 2]])
    np.testing.assert_allclose(figure.data[0].marker.color, np.arange(len(structures)))
    assert len(figure.data) == 3
    with pytest.raises(CrystalInputError, match="labels"):
        latent_map(model, structures, labels=[1.0])


def test_walk_ends_take_each_ends_composition(model):
    structures = perovskites()
    chart = latent_map(model, structures)
    walk = latent_walk(model, chart.mu[0], chart.mu[1], (structures[0].composition, structures[1].composition),
                       steps=3)
    assert [s.composition for s in (walk[0], walk[-1])] == [structures[0].composition, structures[1].composition]
    with pytest.raises(CrystalInputError, match="steps"):
        latent_walk(model, chart.mu[0], chart.mu[1], ("SrTiO3", "BaTiO3"), steps=1)


def test_moving_the_slider_changes_the_drawn_crystal(model):
    widget = latent_explorer(model, perovskites(), start=0, end=1, steps=3, backend="plotly")
    picker, start_box, end_box = widget.children[1].children
    slider = widget.children[2]

    def drawn() -> np.ndarray:
        atoms = [trace for trace in widget.figure.data if trace.mode == "markers"]
        return np.concatenate([np.column_stack([t.x, t.y, t.z]) for t in atoms])

    before, caption = drawn(), widget.children[3].value
    slider.value = 2
    assert "walk 2/2" in widget.children[3].value and widget.children[3].value != caption
    after = drawn()
    assert before.shape != after.shape or not np.allclose(before, after)
    # picking a crystal draws that crystal of the set
    picker.value = 3
    assert "#3" in widget.children[3].value
    # new ends: a new walk is decoded, starting at the new 'from' crystal's composition
    start_box.value = 4
    assert widget.walk[0].composition == perovskites()[4].composition


def test_live_explorer_swaps_crystals_in_one_nglview_widget(model, monkeypatch):
    """With nglview, every move redraws in the same widget (one WebGL canvas), never a new one."""
    import nglview

    made = []
    original_init = nglview.NGLWidget.__init__

    def counting_init(self, *args, **kwargs):
        made.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(nglview.NGLWidget, "__init__", counting_init)
    widget = latent_explorer(model, perovskites(), start=0, end=1, steps=3, backend="nglview")
    first = widget.shown
    widget.children[2].value = 2  # the walk slider
    assert widget.shown is widget.walk[2] and widget.shown is not first
    widget.children[1].children[0].value = 3  # the crystal picker
    assert widget.shown is perovskites()[3] or widget.shown.composition == perovskites()[3].composition
    assert len(made) == 1 and widget.figure is made[0]


def test_explorer_refuses_an_unknown_backend(model):
    with pytest.raises(CrystalInputError):
        latent_explorer(model, perovskites(), backend="povray")


def test_default_walk_joins_the_two_crystals_furthest_apart_on_the_map(model):
    widget = latent_explorer(model, perovskites(), steps=3, backend="plotly")
    xy = widget.map.xy[:, 0]
    start, end = widget.children[1].children[1].value, widget.children[1].children[2].value
    assert (start, end) == (int(np.argmin(xy)), int(np.argmax(xy)))


@pytest.mark.parametrize("backend", ["plotly", "nglview"])
def test_the_explorer_draws_without_capturing_output(model, backend, no_output_capture):
    """No display() and no Output capture (it hung headless runs, see crystalkit/widgets/_live.py)."""
    widget = latent_explorer(model, perovskites(), start=0, end=1, steps=3, backend=backend)
    map_area, crystal_area = widget.children[0].children
    first_map = map_area.children[0].outputs
    widget.children[2].value = 2  # the walk slider
    widget.children[1].children[1].value = 3  # a new 'from' end: the map is redrawn
    assert map_area.children[0].outputs != first_map  # the map's display data changed with the new walk
    assert crystal_area.children  # the crystal is drawn (nglview: the widget itself; plotly: its display data)
