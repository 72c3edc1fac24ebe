"""benchmarks/lm_sampling.py: times both sampling paths, which write the same streams."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("one_torch_thread")
def test_lm_sampling_benchmark_times_both_paths(capsys, benchmark_script):
    benchmark_script("lm_sampling").main(["--samples", "2", "--seed", "1"])
    printed = capsys.readouterr().out
    assert "kv_cache=True" in printed and "kv_cache=False" in printed
    assert "same streams: True" in printed
