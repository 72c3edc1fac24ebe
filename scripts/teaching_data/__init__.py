"""The maintainer's tool that builds the bundled teaching sets (not part of the installed kit).

A learner never imports this: the kit ships only the finished CSVs and their
datasheet (``crystalkit/data/bundled/`` and ``crystalkit/data/DATA.md``). The
build is driven by ``scripts/build_teaching_data.py``; its steps live here:

* :mod:`.candidates`: starting structures, a pure function of ``(seed, shard)``;
* :mod:`.build`: volume scan, screening and CHGNet relaxation of one shard;
* :mod:`.finalize`: filter, deduplicate, label and split the relaxed shards;
* ``shards/<subset>/shard_NNNN.jsonl.gz``: the relaxed shards themselves,
  committed, so a later session resumes the build instead of repeating it.

Inside the repository the package imports as ``scripts.teaching_data`` (the
tests do this from the repository root); the driver script, which sits next
to it, imports it as ``teaching_data``.
"""

from pathlib import Path

#: Where the relaxed shards are kept (committed: they are the build's resume state).
SHARD_ROOT = Path(__file__).resolve().parent / "shards"

__all__ = ["SHARD_ROOT"]
