"""The public crystal-generation benchmarks: where they come from, and a checked download.

Perov-5, Carbon-24 and MP-20 were published with CDVAE (Xie et al., ICLR
2022) and MPTS-52 with DiffCSP (Jiao et al., NeurIPS 2023), as CSV files in
their code repositories. The sources of the data themselves: Perov-5 from the
DTU cubic-perovskite set (Castelli et al. 2012), Carbon-24 from AIRSS carbon at
10 GPa (Pickard 2020), MP-20 and MPTS-52 from the Materials Project (Jain et al. 2013).

How a file is found, in order:

1. ``data_dir`` (argument) or the ``CRYSTALKIT_DATA_DIR`` environment
   variable: a folder holding ``<name>/<split>.csv`` (your own copies);
2. the cache (``CRYSTALKIT_CACHE_DIR``, default ``~/.cache/crystalkit``);
3. a download from the public source into the cache, with a progress bar.

Every file is checked against its sha256: the sums we know are in
:data:`KNOWN_SHA256`; for the others the sum seen at first download is
recorded in the cache (``sha256.json``) and every later load is checked
against it, so a file that changes under you is caught.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from crystalkit.errors import ChecksumMismatchError, DatasetNotAvailableError

__all__ = ["PUBLIC_DATASETS", "KNOWN_SHA256", "locate_public_file", "sha256_of", "download", "cache_dir"]

_CDVAE = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/{name}/{split}.csv"
_DIFFCSP = "https://raw.githubusercontent.com/jiaor17/DiffCSP/main/data/{name}/{split}.csv"

#: name -> URL template of the upstream CSV files.
PUBLIC_DATASETS = {
    "perov_5": _CDVAE,
    "carbon_24": _CDVAE,
    "mp_20": _CDVAE,
    "mpts_52": _DIFFCSP,
}

#: sha256 of upstream files known in advance (the rest are recorded at first download).
KNOWN_SHA256 = {
    ("perov_5", "val"): "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
    ("perov_5", "test"): "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
    ("carbon_24", "val"): "36c00689cd63073c954a58bc6ed6e2adb7aeed5a630c994970959a1babffd50e",
    ("carbon_24", "test"): "386b17c08816f434818d51e46687bf72ff3f92348f3ba24823e4758f1fe8a969",
}

SPLITS = ("train", "val", "test")


def cache_dir() -> Path:
    """Where downloads are kept: ``$CRYSTALKIT_CACHE_DIR`` or ``~/.cache/crystalkit``."""
    return Path(os.environ.get("CRYSTALKIT_CACHE_DIR", Path.home() / ".cache" / "crystalkit"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recorded_sums(cache: Path) -> dict[str, str]:
    path = cache / "sha256.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _expected_sum(name: str, split: str, cache: Path) -> str | None:
    return KNOWN_SHA256.get((name, split)) or _recorded_sums(cache).get(f"{name}/{split}")


def _verify(path: Path, name: str, split: str, cache: Path) -> None:
    expected = _expected_sum(name, split, cache)
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{path} has sha256 {actual}, but {name}/{split} should have {expected}. The file is corrupt or a "
            f"different version: delete it and load again, or point data_dir at a correct copy."
        )


def download(url: str, destination: Path, *, expected_sha256: str | None = None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``destination`` with a progress bar, atomically, checking the sha256 if given.

    Raises:
        DatasetNotAvailableError: the network or the server failed (the message says how to get the file by hand).
        ChecksumMismatchError: the download does not have ``expected_sha256`` (nothing is kept).
    """
    from tqdm.auto import tqdm

    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(dir=destination.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            raise ChecksumMismatchError(
                f"Downloaded {url} has sha256 {digest.hexdigest()}, expected {expected_sha256}; nothing was kept."
            )
        shutil.move(temporary, destination)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetNotAvailableError(
            f"Could not download {url} ({error}). If you are offline, fetch the file elsewhere and pass its folder "
            f"as data_dir=... (or set CRYSTALKIT_DATA_DIR), laid out as <name>/<split>.csv."
        ) from error
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return destination


def locate_public_file(name: str, split: str, data_dir: str | Path | None = None, *, allow_download: bool = True) -> Path:
    """Path of a checked local copy of a public benchmark file, downloading it into the cache if needed.

    Raises:
        ValueError: unknown dataset name or split.
        DatasetNotAvailableError: not in ``data_dir``, not cached, and the download failed or is not allowed.
        ChecksumMismatchError: the file found has the wrong sha256.
    """
    if name not in PUBLIC_DATASETS:
        raise ValueError(f"Unknown public dataset {name!r}; choose one of {sorted(PUBLIC_DATASETS)}.")
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
    cache = cache_dir()
    data_dir = data_dir or os.environ.get("CRYSTALKIT_DATA_DIR")
    if data_dir is not None:
        local = Path(data_dir) / name / f"{split}.csv"
        if not local.is_file():
            raise DatasetNotAvailableError(
                f"{local} does not exist. data_dir (or CRYSTALKIT_DATA_DIR) must hold <name>/<split>.csv files "
                f"in the upstream CDVAE format."
            )
        _verify(local, name, split, cache)
        return local
    cached = cache / name / f"{split}.csv"
    if cached.is_file():
        _verify(cached, name, split, cache)
        return cached
    url = PUBLIC_DATASETS[name].format(name=name, split=split)
    if not allow_download:
        raise DatasetNotAvailableError(f"{name}/{split} is not cached at {cached} and downloading is switched off.")
    download(url, cached, expected_sha256=_expected_sum(name, split, cache))
    if _expected_sum(name, split, cache) is None:
        sums = _recorded_sums(cache)
        sums[f"{name}/{split}"] = sha256_of(cached)
        (cache / "sha256.json").write_text(json.dumps(sums, indent=1))
    return cached
