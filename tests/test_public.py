"""The public-benchmark loader, exercised on small files written here (never the network)."""

import hashlib

import pytest

from crystalkit.data import load_dataset, public, write_structure_csv
from crystalkit.errors import ChecksumMismatchError, DatasetNotAvailableError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CRYSTALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CRYSTALKIT_DATA_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path, srtio3, triclinic):
    """A fake upstream server: a folder of <name>/<split>.csv reached through file:// URLs."""
    root = tmp_path / "server"
    write_structure_csv(root / "mp_20" / "val.csv", [srtio3, triclinic], ["mp-1", "mp-2"])
    return root


def test_data_dir_is_used(source, cache):
    data = load_dataset("mp_20", "val", data_dir=source)
    assert len(data) == 2 and data.labels["material_id"].tolist() == ["mp-1", "mp-2"]


def test_environment_variable(source, cache, monkeypatch):
    monkeypatch.setenv("CRYSTALKIT_DATA_DIR", str(source))
    assert len(load_dataset("mp_20", "val")) == 2


def test_download_records_and_checks_sha256(source, cache, monkeypatch):
    monkeypatch.setitem(public.PUBLIC_DATASETS, "mp_20", source.as_uri() + "/{name}/{split}.csv")
    data = load_dataset("mp_20", "val")
    assert len(data) == 2
    recorded = (cache / "sha256.json").read_text()
    expected = hashlib.sha256((source / "mp_20" / "val.csv").read_bytes()).hexdigest()
    assert expected in recorded
    # A cached file that changes afterwards is caught on the next load.
    with open(cache / "mp_20" / "val.csv", "a") as handle:
        handle.write("\n")
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        load_dataset("mp_20", "val")


def test_known_sum_mismatch_keeps_nothing(tmp_path, source, cache, monkeypatch):
    write_structure_csv(source / "perov_5" / "val.csv", [], [])  # not the real file: wrong sum
    monkeypatch.setitem(public.PUBLIC_DATASETS, "perov_5", source.as_uri() + "/{name}/{split}.csv")
    with pytest.raises(ChecksumMismatchError):
        load_dataset("perov_5", "val")
    assert not (cache / "perov_5" / "val.csv").exists()


def test_offline_error_says_what_to_do(cache, monkeypatch):
    monkeypatch.setitem(public.PUBLIC_DATASETS, "mpts_52", "http://127.0.0.1:9/{name}/{split}.csv")
    with pytest.raises(DatasetNotAvailableError, match="data_dir"):
        load_dataset("mpts_52", "train")


def test_missing_local_copy(tmp_path, cache):
    with pytest.raises(DatasetNotAvailableError, match="carbon_24"):
        load_dataset("carbon_24", "val", data_dir=tmp_path)


def test_unknown_names(cache):
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("perov_6", "val")
    with pytest.raises(ValueError, match="Unknown split"):
        load_dataset("perov_5", "validation")
