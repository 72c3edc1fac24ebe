"""``python -m crystalkit``: the ``crystalkit`` command line, also under ``torchrun -m crystalkit``.

The console script ``crystalkit`` (pyproject's ``[project.scripts]``) calls
:func:`crystalkit.cli.main` too; this module is what ``-m`` runs, and it is
how ``torchrun --nproc_per_node=N -m crystalkit train ...`` starts N training
processes (torchrun runs a module, not a console script).
"""

import sys

from crystalkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
