"""The model chooser as a form: drop-downs in, the recommendation and its evidence out (notebook 14).

Each drop-down is one question of :class:`crystalkit.chooser.Situation`.
On every change the form recomputes :func:`crystalkit.chooser.recommend`,
writes it into an ``HTML`` widget's ``value`` and redraws a bar chart of the
capstone figures with the evidence rows highlighted. Both are plain widget
state (no output capture; see :mod:`crystalkit.widgets._live`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from crystalkit.capstone import CapstoneTable

__all__ = ["evidence_figure", "model_chooser"]

_LABELS = {
    "task": "task", "data_size": "data", "chemistry": "chemistry", "compute": "compute",
    "symmetry": "symmetry matters", "disorder": "disorder matters", "property_target": "property target",
}


def evidence_figure(table: CapstoneTable, task: str, highlight: tuple[str, ...] = (), height: int = 330) -> go.Figure:
    """Bar chart of every contender's headline figure for ``task`` (CSP: match at k = 1; de novo: validity),
    the rows in ``highlight`` in colour, the others grey."""
    import plotly.graph_objects as go

    from crystalkit.metrics.intervals import Interval

    column = "match@1" if task == "csp" else "valid"
    names, values = [], []
    for name, row in table.rows.iterrows():
        value = row.get(column)
        value = value.estimate if isinstance(value, Interval) else value
        if isinstance(value, float) and not math.isnan(value):
            names.append(name)
            values.append(100 * value)
    colors = ["#d62728" if name == (highlight[0] if highlight else None) else
              "#1f77b4" if name in highlight else "#c7c7c7" for name in names]
    title = "CSP match rate at k = 1 (%)" if task == "csp" else "de novo validity (%)"
    figure = go.Figure(go.Bar(x=names, y=values, marker_color=colors))
    figure.update_layout(height=height, title=f"Capstone evidence: {title}", yaxis={"range": [0, 105]},
                         margin={"l": 40, "r": 10, "t": 40, "b": 90})
    return figure


def model_chooser(table: CapstoneTable | None = None) -> ipywidgets.VBox:
    """A form of drop-downs that shows :func:`~crystalkit.chooser.recommend`'s advice for the situation chosen.

    Args:
        table: the capstone table whose rows are the evidence (and the bar chart); None: advice only.
    """
    import ipywidgets

    from crystalkit.chooser import OPTIONS, Situation, recommend, recommendation_html
    from crystalkit.widgets._live import figure_box, show_figure

    def label(value) -> str:
        return {True: "yes", False: "no"}.get(value, str(value).replace("_", " "))

    controls = {
        name: ipywidgets.Dropdown(options=[(label(v), v) for v in allowed], description=_LABELS[name],
                                  style={"description_width": "120px"})
        for name, allowed in OPTIONS.items()
    }
    advice_box = ipywidgets.HTML()
    advice_box.add_class("crystalkit-chooser-advice")
    chart = figure_box(width="100%") if table is not None else None

    def update(_change=None) -> None:
        situation = Situation(**{name: control.value for name, control in controls.items()})
        advice = recommend(situation, table)
        advice_box.value = recommendation_html(advice)
        if chart is not None:
            show_figure(chart, evidence_figure(table, situation.task, advice.evidence_rows))
        form.advice = advice

    for control in controls.values():
        control.observe(update, names="value")
    children = [ipywidgets.HBox([ipywidgets.VBox(list(controls.values())), advice_box])]
    if chart is not None:
        children.append(chart)
    form = ipywidgets.VBox(children)
    form.add_class("crystalkit-chooser")  # how the real-browser test finds it
    form.controls = controls
    update()
    return form
