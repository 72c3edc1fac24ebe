"""A plotly figure that a widget redraws, with no output capture (private to ``crystalkit.widgets``).

A widget whose callback redraws a plotly figure can do it three ways:

1. a ``go.FigureWidget`` updated in place (plotly >= 6 needs the optional ``anywidget`` package);
2. ``display(figure)`` inside ``with output:`` of an ``ipywidgets.Output`` (output **capture**);
3. setting the ``outputs`` of an ``ipywidgets.Output`` to the figure's display data, as here.

Capture is the one to avoid in the course. When a notebook runs headless
(nbclient, papermill, ``make course``) the executor plays the front end: for
every output captured by an ``Output`` it sends a comm message back to the
kernel on the shell channel, while another of its tasks waits on that same
channel for the cell's reply. Notebook 08 hung there in 2 of 3 runs, kernel
idle, reply never read (the race of jupyter/nbclient#312). Setting ``outputs``
is plain widget state, like the ``value`` of an ``HTML`` widget: the kernel
sends it and nobody answers, so there is no race. JupyterLab draws the figure
with its plotly renderer inside the widget, as it would a captured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = ["figure_box", "figure_bundle", "show_figure"]

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


def figure_bundle(figure: go.Figure) -> dict:
    """The display data of a figure: plotly's own mime type (drawn by JupyterLab) and a line of plain text."""
    import plotly.io as pio

    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(figure.to_dict())  # JSON-safe: numpy arrays become lists
    bundle["text/plain"] = f"plotly figure: {figure.layout.title.text or 'untitled'}"
    return bundle


def figure_box(**layout) -> ipywidgets.Output:
    """An empty ``Output`` to draw figures into with :func:`show_figure` (``layout``: ipywidgets Layout fields)."""
    import ipywidgets

    return ipywidgets.Output(layout=ipywidgets.Layout(**layout))


def show_figure(box: ipywidgets.Output, figure: go.Figure) -> go.Figure:
    """Replace what ``box`` shows by ``figure`` (one state update, no capture); returns ``figure``."""
    box.outputs = ({"output_type": "display_data", "data": figure_bundle(figure), "metadata": {}},)
    return figure
