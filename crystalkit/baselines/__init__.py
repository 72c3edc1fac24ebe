"""Baselines: the structure generators every learned model must beat.

Both implement :class:`crystalkit.sampling.StructureGenerator`, so a notebook
or a benchmark scores them exactly like a trained model:

* :class:`RandomSymmetricBaseline` random PyXtal crystals with space groups
  drawn from a training distribution: what chance alone achieves;
* :class:`PrototypeSubstitutionBaseline` known crystals with chemically similar
  elements swapped in: what a chemist's first guess achieves.

A generative model that cannot beat the second has learned little beyond
looking things up.
"""

from crystalkit.baselines.random_symmetric import GenerationFailedError, RandomSymmetricBaseline, spacegroup_counts
from crystalkit.baselines.substitution import PrototypeSubstitutionBaseline, element_similarity

__all__ = [
    "RandomSymmetricBaseline",
    "PrototypeSubstitutionBaseline",
    "spacegroup_counts",
    "element_similarity",
    "GenerationFailedError",
]
