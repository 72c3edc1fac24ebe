"""Which generative family, and which published code, to start from: a model chooser.

The capstone (:mod:`crystalkit.capstone`) measures every family on the same
tasks; the literature says what each published code was built for. This
module turns both into advice for one situation::

    >>> from crystalkit.chooser import Situation, recommend
    >>> advice = recommend(Situation(task="csp", data_size="small", chemistry="one_prototype",
    ...                              compute="laptop"))
    >>> advice.family
    'flow matching'

The rules are short on purpose; each reason is a sentence a learner can check,
and when a capstone table is passed in, the reasons quote its figures and the
evidence rows are that table's rows. Published figures quoted here are the
ones recorded in ``benchmarks/RESULTS.md`` with their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from crystalkit.errors import CrystalInputError

if TYPE_CHECKING:
    from crystalkit.capstone import CapstoneTable

__all__ = ["OPTIONS", "REFERENCES", "Recommendation", "Situation", "recommend", "recommendation_html"]

#: The allowed answers of each question (the form's drop-downs offer exactly these).
OPTIONS: dict[str, tuple] = {
    "task": ("csp", "de_novo"),
    "data_size": ("small", "medium", "large"),  # < 1,000 crystals; 1,000-20,000; more
    "chemistry": ("one_prototype", "periodic_table"),  # one structure family (e.g. ABX3) or anything
    "compute": ("laptop", "gpu"),
    "symmetry": (False, True),  # must the samples have a given space group?
    "disorder": (False, True),  # do the targets have partial occupancies?
    "property_target": (False, True),  # must the samples aim at a property value?
}

#: Key papers, cited only for what they are known for.
REFERENCES = {
    "DiffCSP": "R. Jiao et al., Crystal structure prediction by joint equivariant diffusion, NeurIPS 2023",
    "FlowMM": "B. K. Miller et al., FlowMM: generating materials with Riemannian flow matching, ICML 2024",
    "MatterGen": "C. Zeni et al., A generative model for inorganic materials design, Nature 2025",
    "CrystaLLM": "L. M. Antunes et al., Crystal structure generation with autoregressive large language "
                 "modeling, Nat. Commun. 2024",
    "CDVAE": "T. Xie et al., Crystal diffusion variational autoencoder for periodic material generation, ICLR 2022",
    "Chemeleon": "H. Park et al., Chemeleon (text-guided crystal structure generation), 2025",
    "PyXtal": "S. Fredericks et al., PyXtal: a Python library for crystal structure generation and "
              "symmetry analysis, Comput. Phys. Commun. 2021",
}


@dataclass(frozen=True)
class Situation:
    """The questions the chooser asks (allowed values in :data:`OPTIONS`).

    Attributes:
        task: ``"csp"`` (composition given) or ``"de_novo"`` (invent compositions too).
        data_size: ``"small"`` (< 1,000 training crystals), ``"medium"`` (up to ~20,000), ``"large"``.
        chemistry: ``"one_prototype"`` (one structure family, e.g. perovskites) or ``"periodic_table"``.
        compute: ``"laptop"`` (a few CPU cores) or ``"gpu"``.
        symmetry, disorder, property_target: whether a space group, partial occupancy or a property value matter.
    """

    task: str = "csp"
    data_size: str = "small"
    chemistry: str = "one_prototype"
    compute: str = "laptop"
    symmetry: bool = False
    disorder: bool = False
    property_target: bool = False

    def __post_init__(self):
        for name, allowed in OPTIONS.items():
            value = getattr(self, name)
            if value not in allowed or (isinstance(allowed[0], bool) and not isinstance(value, bool)):
                raise CrystalInputError(
                    f"Unknown {name} {value!r}: choose one of {', '.join(repr(a) for a in allowed)}.")


@dataclass(frozen=True)
class Recommendation:
    """What to start from, and why.

    Attributes:
        family: the generative family (or baseline) to start with.
        published_code: the published code to start from (``"none"`` when none fits).
        reasons: sentences, the first ones from the literature, then ones quoting the capstone table.
        evidence: the capstone table's rows behind the advice (empty without a table).
        references: the papers behind the reasons.
        evidence_rows: the names of the table rows the advice rests on (present or not in the table).
    """

    family: str
    published_code: str
    reasons: tuple[str, ...]
    evidence: pd.DataFrame = field(repr=False)
    references: tuple[str, ...]
    evidence_rows: tuple[str, ...] = ()


def recommend(situation: Situation | dict, table: CapstoneTable | None = None) -> Recommendation:
    """The family and published code to start from in ``situation``, with reasons and evidence.

    Args:
        situation: a :class:`Situation`, or a dict of its fields (unknown keys or values raise).
        table: a capstone table (:func:`crystalkit.capstone.run_capstone`); its rows become the evidence
            and its figures are quoted in the reasons.

    Raises:
        CrystalInputError: an unknown question or answer.
    """
    if isinstance(situation, dict):
        unknown = sorted(set(situation) - set(OPTIONS))
        if unknown:
            raise CrystalInputError(f"Unknown question(s) {unknown}; the chooser asks about {sorted(OPTIONS)}.")
        situation = Situation(**situation)
    elif not isinstance(situation, Situation):
        raise CrystalInputError(f"recommend() takes a Situation or a dict, got {type(situation).__name__}.")
    family, code, reasons, papers, rows = _rule(situation)
    evidence = _evidence(table, rows)
    reasons = (*reasons, *_quoted(table, rows, situation.task))
    return Recommendation(family, code, tuple(reasons), evidence, tuple(REFERENCES[p] for p in papers), tuple(rows))


def _rule(s: Situation) -> tuple[str, str, list[str], list[str], list[str]]:
    """(family, published code, reasons, papers, evidence row names) for a situation; first match wins."""
    if s.disorder:
        return ("none: ordered approximants first", "none (build ordered cells with crystalkit.disorder, notebook 11)",
                [("No generator in this kit places partial occupancies: every family here, like DiffCSP, FlowMM "
                 "and CDVAE that they follow, puts one element on each site."),
                 ("The honest route is an ordered approximant (an ordered supercell or SQS of the disordered "
                 "crystal, notebook 11), then any CSP route below on that ordered cell.")],
                ["DiffCSP", "FlowMM", "CDVAE"], ["prototype substitution"])
    if s.task == "de_novo" and s.property_target:
        if s.compute == "gpu" and s.data_size != "small":
            return ("guided diffusion", "MatterGen",
                    [("MatterGen is a diffusion model of atom types, coordinates and lattice that can be fine-tuned "
                     "to steer generation towards property values."),
                     ("It needs a GPU and a large labelled set to pay off; the kit's guided diffusion "
                     "(notebook 13) is the same idea at teaching scale.")],
                    ["MatterGen"], ["diffusion", "random symmetric (PyXtal)"])
        if s.chemistry == "one_prototype":
            return ("GFlowNet", "crystalkit.models.gflownet (the kit's; no listed code is a GFlowNet)",
                    [("In one small prototype space a GFlowNet samples crystals in proportion to a reward, so it "
                     "returns many good candidates, not one, and trains in minutes on a CPU (notebook 08)."),
                     "Its space must be enumerable: it only builds the cells it was designed for."],
                    ["MatterGen"], ["GFlowNet", "diffusion"])
        return ("guided diffusion", "crystalkit guided diffusion (notebook 13); MatterGen when a GPU is available",
                [("Classifier-free guidance steers a diffusion model towards a property value without a second "
                 "network; on a laptop the kit's small model trains in minutes."),
                 "With a GPU and a large labelled set, start from MatterGen instead."],
                ["MatterGen"], ["diffusion", "random symmetric (PyXtal)"])
    if s.task == "de_novo":
        if s.compute == "gpu" and s.chemistry == "periodic_table":
            return ("diffusion", "MatterGen",
                    [("MatterGen generates stable, unique and new inorganic crystals across the periodic table "
                     "and publishes pretrained weights to start from."),
                     "Judge it by S.U.N. (stable, unique, novel), which needs a relaxation and a hull."],
                    ["MatterGen", "DiffCSP"], ["diffusion", "random symmetric (PyXtal)"])
        return ("diffusion", "DiffCSP (its ab initio generation mode) or the kit's de novo diffusion",
                [("A joint diffusion of lattice, wrapped coordinates and atom types generates de novo as well as "
                 "for a given composition, and a small model trains on a CPU."),
                 ("With little data or compute, compare it with random symmetric crystals (PyXtal) first: "
                 "chance alone is the bar.")],
                ["DiffCSP", "PyXtal"], ["diffusion", "random symmetric (PyXtal)"])
    # crystal structure prediction
    if s.symmetry:
        return ("language model", "CrystaLLM",
                [("A text model writes the whole CIF, space group included, so a prompt can fix the symmetry; "
                 "constrained decoding keeps every stream parseable (notebook 08)."),
                 ("If the space group must hold exactly, PyXtal builds random crystals in that group: the "
                 "baseline to beat, and a source of symmetric starting points.")],
                ["CrystaLLM", "PyXtal"], ["language model", "random symmetric (PyXtal)"])
    if s.data_size == "small" and s.chemistry == "periodic_table":
        return ("prototype substitution", "crystalkit.baselines (prototype substitution) with PyXtal",
                [("With few crystals spread over many chemistries a learned model sees too few of each "
                 "structure type; swapping similar elements into known crystals is the strong first guess."),
                 "Random symmetric crystals (PyXtal) are the floor every method must clear."],
                ["PyXtal"], ["prototype substitution", "random symmetric (PyXtal)"])
    if s.compute == "gpu" and s.data_size == "large":
        return ("diffusion", "DiffCSP",
                [("DiffCSP reports 52.02 % match and RMSE 0.0760 on Perov-5 at k = 1, against CDVAE's 45.31 % and "
                 "0.1138 (Jiao et al., NeurIPS 2023)."),
                 ("chemeleon-dng is pip-installable DiffCSP-class code; on two CPU cores it trained about 120 times "
                 "slower per step than the kit (benchmarks/RESULTS.md), so give it the GPU.")],
                ["DiffCSP", "CDVAE", "Chemeleon"], ["diffusion", "flow matching", "prototype substitution"])
    if s.compute == "gpu":
        return ("flow matching", "FlowMM",
                [("Flow matching on the torus learns the same task as DiffCSP and samples with fewer integration "
                  "steps; FlowMM is its published code."),
                 "With a medium or small set, the step count, not the GPU, decides how fast you iterate."],
                ["FlowMM", "DiffCSP"], ["flow matching", "diffusion", "prototype substitution"])
    return ("flow matching", "FlowMM (or the kit's flow on a laptop)",
            [("On a laptop sampling cost matters: a flow samples in tens of Euler steps where diffusion uses hundreds "
             "of predictor-corrector steps."),
             "Beat prototype substitution first: in one prototype family a lookup of similar crystals is hard to beat."],
            ["FlowMM", "DiffCSP"], ["flow matching", "diffusion", "prototype substitution"])


def _evidence(table: CapstoneTable | None, rows: list[str]) -> pd.DataFrame:
    if table is None:
        return pd.DataFrame()
    present = [name for name in rows if name in table.rows.index]
    return table.rows.loc[present]


def _quoted(table: CapstoneTable | None, rows: list[str], task: str) -> list[str]:
    """Sentences generated from the capstone figures of the evidence rows."""
    from crystalkit.metrics.intervals import Interval

    if table is None:
        return []
    out = []
    for name in rows:
        if name not in table.rows.index:
            continue
        row = table.rows.loc[name]
        if task == "csp":
            value = row.get("match@1")
            if isinstance(value, Interval):
                speed = row.get("sample_ms")
                cost = "" if speed is None or math.isnan(speed) else f", {speed:.1f} ms per structure"
                out.append(f"Capstone: {name} matched {value.estimate:.0%} ({value.low:.0%} to {value.high:.0%}) "
                           f"of {table.n_csp_targets[1]} targets at k = 1{cost}.")
        else:
            valid, sun = row.get("valid"), row.get("sun")
            if isinstance(valid, float) and not math.isnan(valid):
                sun_text = (f", S.U.N. {sun.estimate:.0%} of the first {table.config.sun_samples}"
                            if isinstance(sun, Interval) else "")
                out.append(f"Capstone: {name} made {valid:.0%} valid crystals de novo{sun_text}.")
    return out


def recommendation_html(advice: Recommendation) -> str:
    """The advice as a small HTML block (the chooser form shows it)."""
    from html import escape

    items = "".join(f"<li>{escape(reason)}</li>" for reason in advice.reasons)
    papers = "".join(f"<li>{escape(paper)}</li>" for paper in advice.references)
    return (f"<h4>Start with: {escape(advice.family)}</h4><p><b>Published code:</b> {escape(advice.published_code)}"
            f"</p><ul>{items}</ul><p><b>Read:</b></p><ul>{papers}</ul>")
