"""Datasets and the shared batch type.

* :func:`load_dataset` reads the bundled teaching sets and the public benchmarks;
* :class:`CrystalBatch` and :func:`collate` are what every model consumes;
* :func:`read_structure_csv` / :func:`write_structure_csv` speak the upstream CSV format;
* :class:`DenseCrystals` (a padded batch, the form the networks compute on) and
  :class:`TensorCrystalDataset` (a training set as pre-collated tensors).
"""

from crystalkit.data.batch import CrystalBatch, collate
from crystalkit.data.csv_format import read_structure_csv, write_structure_csv
from crystalkit.data.datasets import BUNDLED_DATASETS, DATASET_NAMES, CrystalDataset, load_dataset
from crystalkit.data.dense import DenseCrystals
from crystalkit.data.tensor_dataset import TensorCrystalDataset

__all__ = [
    "CrystalBatch",
    "collate",
    "CrystalDataset",
    "load_dataset",
    "BUNDLED_DATASETS",
    "DATASET_NAMES",
    "read_structure_csv",
    "write_structure_csv",
    "DenseCrystals",
    "TensorCrystalDataset",
]
