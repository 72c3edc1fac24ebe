"""Sentences in a notebook that stay true of its outputs.

A notebook that says "the RMSE falls as k grows" under a table is only right
as long as the table agrees. Two tools keep prose and numbers together:

* :func:`say` writes a Markdown sentence *from* computed values, so it
  changes when they change;
* :func:`claim` states something the prose below relies on (a direction, a
  range) and stops the notebook with a clear message when it is not so. The
  course tests run every notebook in quick mode, so a stale claim fails a test
  instead of misleading a reader.

Example::

    claim(rmse_at_5 <= rmse_at_1, "the best of 5 samples has an RMSE no higher than one sample")
    say("The match rate rose from {a:.1%} to {b:.1%} between k = 1 and k = 5.", a=rate_1, b=rate_5)
"""

from __future__ import annotations

from typing import Any

__all__ = ["ClaimError", "claim", "claim_between", "say"]


class ClaimError(AssertionError):
    """A sentence of the notebook no longer matches what the notebook computed."""


def claim(condition: bool, statement: str, **values: Any) -> None:
    """Stop with `ClaimError` unless ``condition`` holds; ``values`` are shown to help find the cause.

    Args:
        condition: the computed check (a Python bool or numpy bool).
        statement: the sentence of the notebook this check backs, in words.
        values: the numbers the check used, printed in the error.
    """
    if not bool(condition):
        shown = ", ".join(f"{name}={value!r}" for name, value in values.items())
        raise ClaimError(
            f"The notebook says: {statement!r}, but its own outputs disagree"
            + (f" ({shown})" if shown else "")
            + ". Rewrite the sentence (or generate it with say()) so it follows the computed values."
        )


def claim_between(value: float, low: float, high: float, statement: str) -> None:
    """`claim` that ``low <= value <= high``."""
    claim(low <= value <= high, statement, value=value, low=low, high=high)


def say(template: str, /, **values: Any) -> str:
    """Display ``template.format(**values)`` as Markdown (plain text outside a notebook); return the text."""
    text = template.format(**values)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython comes with the kit's environment
        print(text)
        return text
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
    return text
