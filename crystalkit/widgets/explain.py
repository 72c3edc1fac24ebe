"""Plotly drawings of explanations (notebook 12): beeswarm, waterfall and deletion curves.

shap draws with matplotlib; the kit draws with plotly, so these are small
re-drawings of shap's two classic plots from a `crystalkit.explain.ShapExplanation`:

* :func:`beeswarm_figure` — one row per feature (the most important at the
  top), one dot per crystal at its SHAP value, coloured by the feature's value
  (low blue, high red): which features move predictions, by how much, and in
  which direction high values push;
* :func:`waterfall_figure` — one crystal's prediction built up from the base
  value, one bar per feature, the largest first, the rest summed in one bar.
  Given several crystals it adds a slider (plotly's own, so it works in an
  exported HTML page too) that chooses whose waterfall is shown;
* :func:`deletion_figure` — a `crystalkit.explain.DeletionCurves`: the top-ranked
  curve against the random one with its spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from crystalkit.explain import DeletionCurves, ShapExplanation

__all__ = ["beeswarm_figure", "deletion_figure", "swarm_offsets", "waterfall_figure"]


def swarm_offsets(x: np.ndarray, *, bins: int = 40, width: float = 0.4) -> np.ndarray:
    """Vertical offsets that pile dots with similar ``x`` into a symmetric swarm, at most ``width`` tall.

    Dots in the same of ``bins`` bins of ``x`` are stacked 0, +1, -1, +2, -2, ... steps; the step is chosen
    so that the fullest bin just reaches ``width``.
    """
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x
    span = np.ptp(x) or 1.0
    which = np.minimum(((x - x.min()) / span * bins).astype(int), bins - 1)  # (n,)
    rank = np.zeros(len(x), dtype=int)
    for b in np.unique(which):
        members = np.flatnonzero(which == b)
        rank[members] = np.arange(len(members))
    offsets = np.where(rank % 2 == 1, 1, -1) * ((rank + 1) // 2)  # 0, 1, -1, 2, -2, ...
    tallest = max(int(np.abs(offsets).max()), 1)
    return offsets * width / tallest


def beeswarm_figure(explanation: ShapExplanation, *, max_features: int = 12, title: str | None = None) -> go.Figure:
    """SHAP values of every row for the ``max_features`` most important features, coloured by feature value."""
    import plotly.graph_objects as go

    if max_features < 1:
        raise CrystalInputError(f"max_features must be at least 1, got {max_features}.")
    order = explanation.ranking()[:max_features]
    xs, ys, colours, texts = [], [], [], []
    for row, feature in enumerate(order):
        values, data = explanation.values[:, feature], explanation.data[:, feature]
        level = len(order) - 1 - row  # the most important at the top
        xs.append(values)
        ys.append(level + swarm_offsets(values))
        ranks = np.argsort(np.argsort(data)) / max(len(data) - 1, 1)  # 0 lowest .. 1 highest value
        colours.append(ranks)
        texts.extend(f"{explanation.names[feature]} = {v:.3g}" for v in data)
    figure = go.Figure(go.Scatter(
        x=np.concatenate(xs), y=np.concatenate(ys), mode="markers", text=texts, hoverinfo="text+x",
        marker={"size": 5, "color": np.concatenate(colours), "colorscale": "RdBu_r", "cmin": 0, "cmax": 1,
                    "colorbar": {"title": "feature value", "tickvals": [0, 1], "ticktext": ["low", "high"]}},
    ))
    figure.add_vline(x=0, line_color="grey", line_width=1)
    figure.update_layout(
        title=title or "SHAP values (one dot per crystal)", xaxis_title="SHAP value (effect on the prediction)",
        yaxis={"tickvals": list(range(len(order))), "ticktext": [explanation.names[i] for i in order[::-1]]},
        height=120 + 32 * len(order), margin={"l": 10}, template="plotly_white",
    )
    return figure


def _waterfall_trace(explanation: ShapExplanation, row: int, max_features: int, visible: bool) -> go.Waterfall:
    import plotly.graph_objects as go

    values, data = explanation.values[row], explanation.data[row]
    order = np.argsort(-np.abs(values), kind="stable")[:max_features]
    rest = float(values.sum() - values[order].sum())
    labels = ["base value"] + [f"{explanation.names[i]} = {data[i]:.3g}" for i in order]
    labels += [f"{len(values) - len(order)} other features", "prediction"]
    amounts = [explanation.base_value, *values[order], rest, 0.0]
    return go.Waterfall(
        orientation="h", y=labels, x=amounts, measure=["absolute"] + ["relative"] * (len(order) + 1) + ["total"],
        increasing={"marker_color": "#d6604d"}, decreasing={"marker_color": "#4393c3"},
        totals={"marker_color": "#888888"}, visible=visible, texttemplate="%{delta:+.3f}",
    )


def waterfall_figure(
    explanation: ShapExplanation, rows: Sequence[int] | int = 0, *, labels: Sequence[str] | None = None,
    max_features: int = 10, start: int = 0, units: str = "",
) -> go.Figure:
    """One crystal's prediction, from the base value through its largest SHAP values; a slider if several rows.

    Args:
        explanation: SHAP values of many rows.
        rows: the row (or rows: a slider chooses among them) to draw.
        labels: a name per row in ``rows`` (e.g. formulas) for the slider and the title.
        max_features: bars shown; the other features are summed into one bar.
        start: which of ``rows`` is shown first.
        units: the label's units, for the axis.
    """
    import plotly.graph_objects as go

    rows = [rows] if isinstance(rows, (int, np.integer)) else list(rows)
    n = len(explanation.values)
    if not rows or any(not 0 <= r < n for r in rows):
        raise CrystalInputError(f"rows must be indices in 0..{n - 1} of the explained rows, got {rows}.")
    labels = [f"row {r}" for r in rows] if labels is None else list(labels)
    if len(labels) != len(rows):
        raise CrystalInputError(f"{len(labels)} labels for {len(rows)} rows: give one label per row.")
    if not 0 <= start < len(rows):
        raise CrystalInputError(f"start must be in 0..{len(rows) - 1}, got {start}.")
    figure = go.Figure([_waterfall_trace(explanation, r, max_features, i == start) for i, r in enumerate(rows)])
    title = "{}: prediction built from SHAP values"
    figure.update_layout(title=title.format(labels[start]), template="plotly_white", showlegend=False,
                         xaxis_title=f"model output {units}".strip(), yaxis={"autorange": "reversed"},
                         height=200 + 28 * (max_features + 3), margin={"l": 10})
    if len(rows) > 1:
        steps = [{"method": "update", "label": label,
                      "args": [{"visible": [j == i for j in range(len(rows))]}, {"title": title.format(label)}]}
                 for i, label in enumerate(labels)]
        figure.update_layout(sliders=[{"active": start, "steps": steps, "currentvalue": {"prefix": "crystal: "},
                                           "pad": {"t": 40}}])
    return figure


def deletion_figure(curves: DeletionCurves, *, title: str | None = None) -> go.Figure:
    """The deletion curves: removing the top-ranked features against removing random ones (± 1 std)."""
    import plotly.graph_objects as go

    k = curves.removed
    low, high = curves.random - curves.random_spread, curves.random + curves.random_spread
    figure = go.Figure([
        go.Scatter(x=np.concatenate([k, k[::-1]]),
                   y=np.concatenate([high, low[::-1]]),
                   fill="toself", line={"width": 0}, fillcolor="rgba(150,150,150,0.3)", name="random ± 1 std",
                   hoverinfo="skip"),
        go.Scatter(x=k, y=curves.random, mode="lines+markers", name="random features", line_color="grey"),
        go.Scatter(x=k, y=curves.top, mode="lines+markers", name="top-ranked features", line_color="#d6604d"),
    ])
    figure.update_layout(title=title or "Faithfulness: remove features, watch the prediction move",
                         xaxis_title="features removed (set to the baseline)",
                         yaxis_title="mean |change of prediction|", template="plotly_white")
    return figure
