"""`load_dataset`: one entry point for the bundled teaching sets and the public benchmarks.

>>> from crystalkit.data import load_dataset
>>> train = load_dataset("perovskites", "train")      # bundled, no network needed
>>> train.structures[0], train.labels.iloc[0]
>>> batch = train.to_batch()                            # CrystalBatch for a model

Bundled teaching sets (made by ``scripts/build_teaching_data.py``, see
``crystalkit/data/DATA.md``): ``perovskites``, ``inorganic``, ``carbon``.
Public benchmarks (see :mod:`crystalkit.data.public`): ``perov_5``,
``carbon_24``, ``mp_20``, ``mpts_52``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from crystalkit.data.batch import CrystalBatch
from crystalkit.data.csv_format import read_structure_csv
from crystalkit.data.public import PUBLIC_DATASETS, SPLITS, locate_public_file

__all__ = ["CrystalDataset", "load_dataset", "BUNDLED_DATASETS", "DATASET_NAMES", "bundled_path"]

#: The kit's own teaching sets, shipped inside the package.
BUNDLED_DATASETS = ("perovskites", "inorganic", "carbon")
DATASET_NAMES = BUNDLED_DATASETS + tuple(PUBLIC_DATASETS)


@dataclass(frozen=True)
class CrystalDataset:
    """Structures of one split with their labels, in file order.

    Attributes:
        name: dataset name, e.g. ``"perovskites"`` or ``"perov_5"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        structures: pymatgen structures.
        labels: one row per structure: ``material_id`` and the property columns.
    """

    name: str
    split: str
    structures: tuple[Structure, ...]
    labels: pd.DataFrame

    def __len__(self) -> int:
        return len(self.structures)

    def __getitem__(self, index: int) -> Structure:
        return self.structures[index]

    def __repr__(self) -> str:
        return f"CrystalDataset({self.name!r}, {self.split!r}, {len(self)} structures, labels={list(self.labels.columns)})"

    def to_batch(self, dtype=None) -> CrystalBatch:
        """All structures as one :class:`CrystalBatch` (float64 unless ``dtype`` is given)."""
        import torch

        return CrystalBatch.from_structures(self.structures, dtype=dtype or torch.float64, check=False)


def bundled_path(name: str, split: str) -> Path:
    """Path of a bundled teaching-set file inside the installed package."""
    return Path(str(files("crystalkit.data") / "bundled" / name / f"{split}.csv.gz"))


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, mtime: float) -> tuple[tuple[Structure, ...], pd.DataFrame]:
    structures, labels = read_structure_csv(path)
    return tuple(structures), labels


def load_dataset(
    name: str, split: str = "train", data_dir: str | Path | None = None, *, download: bool = True
) -> CrystalDataset:
    """Load a split of a bundled teaching set or a public benchmark.

    Args:
        name: one of :data:`DATASET_NAMES`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: for public benchmarks, a folder with ``<name>/<split>.csv``
            copies (else ``$CRYSTALKIT_DATA_DIR``, else the cache, else a download).
        download: allow a download from the public source when no copy is found.

    Raises:
        ValueError: unknown name or split.
        DatasetNotAvailableError: a public file is not available (offline and not cached).
        ChecksumMismatchError: a public file does not have the expected sha256.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset {name!r}. Bundled: {list(BUNDLED_DATASETS)}; public: {list(PUBLIC_DATASETS)}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
    if name in BUNDLED_DATASETS:
        path = bundled_path(name, split)
        if not path.is_file():
            raise FileNotFoundError(
                f"The bundled file {path} is missing; the package is incomplete. Reinstall crystalkit, "
                f"or rebuild it with scripts/build_teaching_data.py."
            )
    else:
        path = locate_public_file(name, split, data_dir, allow_download=download)
    structures, labels = _read_cached(str(path), path.stat().st_mtime)
    # Copies, so a learner editing a structure or the table does not change the cache.
    return CrystalDataset(name, split, tuple(s.copy() for s in structures), labels.copy())
