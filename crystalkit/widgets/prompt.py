"""Prompt widgets for the sequential families (notebook 08).

* :func:`prompt_widget`: type a composition (``SrTiO3``), a space group
  (``221``) or both (``SrTiO3 221``), move the temperature slider, and see
  what the crystal language model writes: the streams that parse, drawn with
  the kit's gallery, and a line saying how many did not parse and why.
* :func:`gflownet_widget`: move the reward temperature of a GFlowNet and see
  its sampled distribution change: at a low temperature a few low-energy
  formulas dominate; at a high one many formulas share the samples.

Both are made of pure functions (:func:`prompt_samples`,
:func:`gflownet_distribution`) that tests and notebooks can call directly, and
a thin ipywidgets layer. Each move of a control computes a new plotly figure
and puts it in the widget's drawing box by setting the box's state, never by
``display()`` inside ``with output:`` (output capture hung headless runs of
notebook 08; see :mod:`crystalkit.widgets._live`). ``widget.figure`` is the
figure shown, so a test can check that moving a control changed it.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import TYPE_CHECKING

from crystalkit.errors import CrystalInputError
from crystalkit.widgets._live import figure_box, show_figure

if TYPE_CHECKING:
    import ipywidgets
    import pandas as pd
    import plotly.graph_objects as go

    from crystalkit.models.gflownet import GFlowNet
    from crystalkit.models.language import CrystalLanguageModel, LMSample

__all__ = ["gflownet_distribution", "gflownet_widget", "parse_prompt", "prompt_samples", "prompt_widget"]


def parse_prompt(text: str) -> tuple[str | None, int | None]:
    """``"SrTiO3 221"`` -> ``("SrTiO3", 221)``; either part may be missing (``"221"``, ``"SrTiO3"``, ``""``).

    Raises:
        CrystalInputError: more than one formula or number, or a space group outside 1-230.
    """
    words = [w for w in re.split(r"[\s,;]+", text.strip()) if w]
    numbers = [w for w in words if w.isdigit()]
    formulas = [w for w in words if not w.isdigit()]
    if len(numbers) > 1 or len(formulas) > 1:
        raise CrystalInputError(f"Write one formula and/or one space group, like 'SrTiO3 221'; got {text!r}.")
    group = int(numbers[0]) if numbers else None
    if group is not None and not 1 <= group <= 230:
        raise CrystalInputError(f"A space group is a number from 1 to 230, got {group}.")
    return (formulas[0] if formulas else None), group


def prompt_samples(model: CrystalLanguageModel, text: str, temperature: float, num_samples: int = 6,
                   seed: int = 0, top_k: int | None = None) -> tuple[list[LMSample], str]:
    """The streams the model writes for a prompt, and a one-line summary (parse rate, why the rest failed)."""
    composition, group = parse_prompt(text)
    samples = model.generate(composition, num_samples, space_group=group, temperature=temperature, top_k=top_k,
                             seed=seed)
    failures = Counter(s.kind for s in samples if not s.ok)
    parsed = sum(s.ok for s in samples)
    why = ", ".join(f"{n} {kind}" for kind, n in failures.most_common())
    summary = (f"{text.strip() or 'empty prompt'} at T = {temperature:g}: {parsed} of {len(samples)} streams parse"
               + (f"; failed: {why}" if why else ""))
    return samples, summary


def _samples_figure(samples: list[LMSample], summary: str, columns: int) -> go.Figure:
    import plotly.graph_objects as go

    from crystalkit.widgets.figures import gallery

    structures = [s.structure for s in samples if s.ok]
    if not structures:
        figure = go.Figure()
        figure.update_layout(title=f"no stream parsed ({summary})", height=200)
        return figure
    figure = gallery(structures, columns=columns)
    figure.update_layout(title=summary, margin={"t": 90}, height=figure.layout.height + 50)  # title above the panels
    return figure


def prompt_widget(model: CrystalLanguageModel, text: str = "SrTiO3", temperature: float = 1.0, *,
                  num_samples: int = 6, seed: int = 0, columns: int = 3) -> ipywidgets.VBox:
    """Text box (composition and/or space group) + temperature slider -> the crystals the model writes.

    Returns:
        ``VBox([HBox([text, slider]), status, drawing])``, the drawing an ``Output`` whose state holds the
        figure; ``.figure`` is the plotly figure shown (``None`` until a prompt parses), ``.samples`` the
        current :class:`~crystalkit.models.language.LMSample` list.
    """
    import ipywidgets

    box = ipywidgets.Text(value=text, description="prompt", continuous_update=False,
                          placeholder="SrTiO3, 221 or SrTiO3 221")
    slider = ipywidgets.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.1, description="temperature",
                                    continuous_update=False)
    status = ipywidgets.HTML()
    drawing = figure_box()
    widget = ipywidgets.VBox([ipywidgets.HBox([box, slider]), status, drawing])
    widget.add_class("crystalkit-prompt")  # how the real-browser test finds it
    widget.samples, widget.figure = [], None

    def update(_=None) -> None:
        try:
            samples, summary = prompt_samples(model, box.value, slider.value, num_samples, seed)
        except CrystalInputError as error:  # a bad prompt is shown, not raised, in a live widget
            status.value = f'<span style="color:#b00">{html.escape(str(error))}</span>'
            return
        status.value = html.escape(summary)
        widget.samples = samples
        widget.figure = show_figure(drawing, _samples_figure(samples, summary, columns))

    box.observe(update, names="value")
    slider.observe(update, names="value")
    update()
    return widget


def gflownet_distribution(model: GFlowNet, temperature: float, num_samples: int = 400,
                          seed: int = 0) -> pd.DataFrame:
    """Sampled formulas at one reward temperature: count, share and proxy energy, most frequent first."""
    import pandas as pd
    import torch

    if not temperature > 0:
        raise CrystalInputError(f"The reward temperature must be positive, got {temperature}.")
    with torch.no_grad():
        actions, _ = model.rollout(num_samples, temperature, torch.Generator().manual_seed(seed))
    rows = pd.DataFrame(model.describe(actions))
    table = rows.groupby("formula").agg(count=("formula", "size"),
                                        energy=("proxy energy (eV/atom)", "mean")).reset_index()
    table["share"] = table["count"] / num_samples
    return table.sort_values(["count", "energy"], ascending=[False, True]).reset_index(drop=True)


def _distribution_figure(table: pd.DataFrame, temperature: float, shown: int) -> go.Figure:
    import plotly.graph_objects as go

    top = table.head(shown)
    figure = go.Figure(go.Bar(x=top["formula"], y=top["share"], marker={"color": top["energy"],
                              "colorscale": "Viridis", "colorbar": {"title": "eV/atom"}},
                              hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    figure.update_layout(title=f"T = {temperature:.3g} eV/atom: {len(table)} different formulas, "
                               f"mean proxy energy {(table['energy'] * table['count']).sum() / table['count'].sum():.2f}",
                         yaxis_title="share of samples", height=380)
    return figure


def gflownet_widget(model: GFlowNet, temperature: float = 0.1, *, num_samples: int = 400, seed: int = 0,
                    shown: int = 20) -> ipywidgets.VBox:
    """A reward-temperature slider (log scale) over the GFlowNet's sampled formulas.

    Returns:
        ``VBox([slider, drawing])``; ``.figure`` is the bar chart shown, ``.table`` its data.
    """
    import ipywidgets

    low, high = model.config.min_temperature, model.config.max_temperature
    slider = ipywidgets.FloatLogSlider(value=min(max(temperature, low), high), min=_log10(low), max=_log10(high),
                                       step=0.05, description="T (eV/atom)", continuous_update=False)
    drawing = figure_box()
    widget = ipywidgets.VBox([slider, drawing])
    widget.add_class("crystalkit-gflownet")

    def update(_=None) -> None:
        widget.table = gflownet_distribution(model, slider.value, num_samples, seed)
        widget.figure = show_figure(drawing, _distribution_figure(widget.table, slider.value, shown))

    slider.observe(update, names="value")
    update()
    return widget


def _log10(value: float) -> float:
    import math

    return math.log10(value)

