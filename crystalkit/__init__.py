"""crystalkit: a teaching kit on generative models for crystalline materials.

The package is thin on purpose: each subpackage backs one part of the course
(see ``notebooks/``). Importing ``crystalkit`` is fast and does nothing: heavy
libraries (CHGNet, nglview, shap) are imported only inside the functions that
need them.

Subpackages:
    data             bundled teaching sets, public benchmark loaders, CrystalBatch
    representations  CIF, lattices, graphs, Wyckoff form, tokens, fingerprints, voxels
    widgets          crystal viewer (nglview, with a plotly fallback) and gallery
    metrics          CSP and de novo evaluation exactly as the literature computes it
    validation       CHGNet relaxation, hull, symmetry, oxidation states, XRD
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
