"""Widgets for looking at crystals in a notebook.

    view            one crystal in 3-D: nglview in a live JupyterLab, plotly elsewhere
    gallery         several crystals side by side (a plotly figure with 3-D panels)
    crystal_figure  the plotly figure of one crystal, as a pure function
    nglview_widget  the bare nglview widget of one crystal
    resolve_backend the rule that picks nglview or plotly (and $CRYSTALKIT_VIEWER)
    element_color   the Jmol colour of an element, shared by every drawing
    trajectory_player   watch a crystal form during sampling (play button and slider over the steps)
    trajectory_figure   the same as a self-contained plotly animation (plays in exported HTML)
    latent_explorer     a VAE's latent space: a map, a crystal picker and a walk slider (notebook 04)
    gan_training_figure a GAN's samples and diversity over training, with a slider (notebook 05)
    prompt_widget       prompt a crystal language model; gflownet_widget: a GFlowNet's reward temperature (08)
    sampling_playground target and guidance in; samples, the filter funnel and the survivors out (13)
    defect_builder      pick a site of a supercell, remove or swap its atom, relax with CHGNet (11)

Widgets with controls live in modules of their own beside ``viewer.py`` (``trajectory``, ``xrd``, ``latent``,
``gan_training``, ``prompt``) and reuse ``colors``, ``figures`` and ``ngl``.
Importing this package imports neither plotly nor nglview.
"""

from crystalkit.widgets.backend import VIEWER_ENV_VAR, resolve_backend
from crystalkit.widgets.colors import JMOL_COLORS, element_color
from crystalkit.widgets.defect_builder import defect_builder
from crystalkit.widgets.figures import crystal_figure, gallery
from crystalkit.widgets.gan_training import gan_training_explorer, gan_training_figure
from crystalkit.widgets.latent import latent_explorer, latent_map_figure
from crystalkit.widgets.ngl import element_legend, nglview_widget
from crystalkit.widgets.playground import sampling_playground
from crystalkit.widgets.prompt import gflownet_widget, prompt_widget
from crystalkit.widgets.trajectory import trajectory_figure, trajectory_player
from crystalkit.widgets.viewer import view

__all__ = [
    "defect_builder",
    "gan_training_explorer",
    "gan_training_figure",
    "prompt_widget",
    "gflownet_widget",
    "sampling_playground",
    "latent_explorer",
    "latent_map_figure",
    "view",
    "gallery",
    "crystal_figure",
    "nglview_widget",
    "element_legend",
    "resolve_backend",
    "VIEWER_ENV_VAR",
    "element_color",
    "JMOL_COLORS",
    "trajectory_player",
    "trajectory_figure",
]
