"""Sampling playground: ask a conditional generator for a property and watch the filter funnel (notebook 13).

Three sliders in (the target value, the guidance scale ``w`` and the number
of samples); three things out: a table of every sample with the step that
dropped it and why, the funnel figure, and the survivors drawn with the kit's
gallery. Each move samples afresh and runs the funnel
(:func:`crystalkit.design.run_funnel`), so keep it light: few samples, a
capped CHGNet relaxation.

:func:`playground_run` is the pure part (tests and notebooks call it
directly); :func:`sampling_playground` is a thin ipywidgets layer over it.
Figures are put in their boxes by setting the box's state, never by
``display()`` inside ``with output:`` (output capture hung headless runs;
see :mod:`crystalkit.widgets._live`); the table is an ``HTML`` value. ``widget.run`` is the current
:class:`PlaygroundRun`, so a test can check that moving a control changed it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from crystalkit.design import Candidate, FilterStep, FunnelResult, LabelRange

__all__ = ["PlaygroundRun", "playground_run", "samples_table_html", "sampling_playground", "survivors_figure"]


@dataclass(frozen=True)
class PlaygroundRun:
    """One press of the playground: what was asked, what came out, and the funnel."""

    target: float
    guidance_scale: float
    candidates: tuple[Candidate, ...]
    result: FunnelResult

    def summary(self) -> str:
        counts = " → ".join(str(n) for n in self.result.counts)
        return (f"target {self.target:.2f}, w = {self.guidance_scale:g}: {len(self.candidates)} samples; "
                f"survivors per step {counts}")


def playground_run(model, target: float, guidance_scale: float, num_samples: int, *, allowed: LabelRange,
                   steps: Sequence[FilterStep], seed: int = 0, num_steps: int | None = None) -> PlaygroundRun:
    """Sample towards ``target`` with guidance ``guidance_scale`` and pass the samples through ``steps``.

    Raises:
        CrystalInputError: a target outside ``allowed`` (the message says the range), a bad scale or count.
    """
    from crystalkit.design import conditioned_candidates, run_funnel

    candidates = conditioned_candidates(model, target, allowed, guidance_scale=guidance_scale,
                                        num_samples=num_samples, seed=seed, num_steps=num_steps)
    return PlaygroundRun(float(target), float(guidance_scale), tuple(candidates), run_funnel(candidates, steps))


def samples_table_html(run: PlaygroundRun) -> str:
    """Every sample as a row: formula, and either "survived" or the step that dropped it and why."""
    dropped = {row.id: (row.step, row.reason) for row in run.result.dropped.itertuples()}
    rows = []
    for candidate in run.candidates:
        step, reason = dropped.get(candidate.id, ("survived", ""))
        rows.append(f"<tr><td>{candidate.id}</td><td>{html.escape(candidate.formula)}</td>"
                    f"<td>{html.escape(step)}</td><td>{html.escape(reason)}</td></tr>")
    return ('<table style="font-family:sans-serif;font-size:12px"><tr><th>#</th><th>formula</th>'
            "<th>dropped at</th><th>why</th></tr>" + "".join(rows) + "</table>")


def survivors_figure(survivors: Sequence[Candidate], *, columns: int = 3, height: int = 300) -> go.Figure:
    """The survivors' (relaxed) structures in a gallery, or an empty figure saying none survived."""
    import plotly.graph_objects as go

    from crystalkit.widgets.figures import gallery

    if not survivors:
        figure = go.Figure()
        figure.update_layout(title="no candidate survived every step", height=200, plot_bgcolor="white",
                             xaxis_visible=False, yaxis_visible=False)
        return figure
    titles = [f"#{c.id} {c.formula} {c.info.get('spacegroup', '')}" for c in survivors]
    return gallery([c.structure for c in survivors], titles=titles, columns=columns, row_height=height)


def sampling_playground(model, *, allowed: LabelRange, steps: Sequence[FilterStep], target: float | None = None,
                        guidance_scale: float = 2.0, num_samples: int = 6, max_samples: int = 16, seed: int = 0,
                        num_steps: int | None = None) -> ipywidgets.VBox:
    """Target, guidance scale and number of samples in; samples, funnel and survivors out.

    Args:
        model: a conditional de novo generator (e.g. the shipped formation-energy diffusion model).
        allowed: the training-label range; the target slider spans it.
        steps: the funnel's filter steps (e.g. :func:`crystalkit.design.standard_steps` with a small
            ``relax_steps``).
        target: the first target (default: the middle of the range).
        guidance_scale, num_samples: the first values of those sliders.
        max_samples: the samples slider's upper end (keep it small: every move relaxes them all).
        seed, num_steps: passed to the sampler (one seed for every move, so only the controls change things).

    Returns:
        ``VBox([HBox(sliders), status, HBox([funnel, table]), survivors])``; ``.run`` is the current
        :class:`PlaygroundRun`, ``.funnel`` and ``.gallery`` the figures shown.
    """
    import ipywidgets

    from crystalkit.design import check_target, funnel_figure
    from crystalkit.widgets._live import figure_box, show_figure

    first = check_target((allowed.low + allowed.high) / 2 if target is None else target, allowed)
    if not isinstance(max_samples, int) or not 1 <= num_samples <= max_samples:
        raise CrystalInputError(f"Need 1 <= num_samples <= max_samples, got {num_samples} and {max_samples}.")
    sliders = [
        ipywidgets.FloatSlider(value=first, min=allowed.low, max=allowed.high, step=0.05, description="target",
                               continuous_update=False, readout_format=".2f"),
        ipywidgets.FloatSlider(value=guidance_scale, min=0.0, max=6.0, step=0.5, description="guidance w",
                               continuous_update=False),
        ipywidgets.IntSlider(value=num_samples, min=1, max=max_samples, description="samples",
                             continuous_update=False),
    ]
    status, table = ipywidgets.HTML(), ipywidgets.HTML(layout=ipywidgets.Layout(width="50%"))
    funnel_holder, gallery_holder = figure_box(width="50%"), figure_box()
    widget = ipywidgets.VBox([ipywidgets.HBox(sliders), status,
                              ipywidgets.HBox([funnel_holder, table]), gallery_holder])
    widget.add_class("crystalkit-playground")  # how the real-browser test finds it

    def update(_=None) -> None:
        target_slider, scale_slider, count_slider = sliders
        status.value = "<i>sampling and filtering ...</i>"
        try:
            run = playground_run(model, target_slider.value, scale_slider.value, count_slider.value,
                                 allowed=allowed, steps=steps, seed=seed, num_steps=num_steps)
        except CrystalInputError as error:  # shown, not raised, in a live widget
            status.value = f'<span style="color:#b00">{html.escape(str(error))}</span>'
            return
        widget.run = run
        status.value = html.escape(run.summary())
        table.value = samples_table_html(run)
        title = f"funnel: {allowed.name} → {run.target:.2f}"
        widget.funnel = show_figure(funnel_holder, funnel_figure(run.result, title=title))
        widget.gallery = show_figure(gallery_holder, survivors_figure(run.result.survivors))

    for slider in sliders:
        slider.observe(update, names="value")
    update()
    return widget
