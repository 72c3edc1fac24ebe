"""benchmarks/lm_sampling.py: times both sampling paths, which write the same streams."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "lm_sampling.py"


def _load():
    spec = importlib.util.spec_from_file_location("lm_sampling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("one_torch_thread")
def test_lm_sampling_benchmark_times_both_paths(capsys):
    _load().main(["--samples", "2", "--seed", "1"])
    printed = capsys.readouterr().out
    assert "kv_cache=True" in printed and "kv_cache=False" in printed
    assert "same streams: True" in printed
