"""Which drawing library shows a crystal: nglview or plotly.

nglview draws a crystal with WebGL inside a Jupyter *widget*. A widget is two
halves that talk to each other: a Python object in the kernel and a
JavaScript view in the browser. Where no browser half is listening, the
widget is just a line of text: in an exported HTML page, in a plain Python
or IPython terminal, and in a notebook executed headless (papermill or
nbconvert), where nglview's saved widget state is incomplete. A plotly
figure, by contrast, is self-contained HTML and JavaScript that draws itself
wherever the page is opened. So the kit uses nglview only when it is sure a
live front end will draw it, and plotly everywhere else.

The rule (:func:`resolve_backend`, for ``backend="auto"``), first match wins:

1. The environment variable ``CRYSTALKIT_VIEWER`` set to ``plotly`` or
   ``nglview`` forces that backend (``auto`` or unset: go on). The course
   runner sets ``CRYSTALKIT_VIEWER=plotly`` when it executes notebooks
   headless; tests use it to pin a backend.
2. The code must run in an IPython *kernel* (a ``ZMQInteractiveShell``), not
   a terminal or a script: otherwise plotly.
3. The kernel must have been started by a Jupyter server for a notebook or
   console that a person has open: jupyter_server puts the document's path
   in the kernel's environment variable ``JPY_SESSION_NAME``. Kernels
   started by papermill, nbconvert or nbclient do not have it. Otherwise plotly.
4. nglview must be importable, and its JupyterLab extension must be installed
   beside it with the same version as its Python side (a mismatch makes the
   browser refuse to draw the widget; see the ROADMAP). Otherwise plotly,
   with a warning that says why, because in a live front end the user might
   have expected nglview. The extension is looked for in the kernel's
   Jupyter data directories, which are the server's when both run from one
   environment (the usual case; a server in another environment needs
   ``CRYSTALKIT_VIEWER``).

Rule 3 is a heuristic about *who started the kernel*, not proof that a
browser is watching: a kernel the server started keeps ``JPY_SESSION_NAME``
after the browser tab is closed, and papermill launched from inside such a
kernel inherits it. Both are rare; ``CRYSTALKIT_VIEWER`` or an explicit
``backend=`` argument settles any case the rule gets wrong. Google Colab and
VS Code start their kernels without a Jupyter server session, so they get
plotly, which both render.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Literal, get_args

from crystalkit.errors import CrystalInputError

__all__ = ["Backend", "VIEWER_ENV_VAR", "resolve_backend", "in_live_jupyter_session", "nglview_frontend_problem"]

#: The two drawing libraries, and ``"auto"`` to let :func:`resolve_backend` choose.
Backend = Literal["auto", "nglview", "plotly"]

#: Environment variable that forces a backend in ``"auto"`` mode.
VIEWER_ENV_VAR = "CRYSTALKIT_VIEWER"

_NGLVIEW_EXTENSION = "nglview-js-widgets"


def resolve_backend(backend: str = "auto") -> Literal["nglview", "plotly"]:
    """The backend to draw with: ``backend`` itself unless it is ``"auto"``.

    In ``"auto"`` mode, applies the rule in this module's docstring.

    Args:
        backend: ``"auto"``, ``"nglview"`` or ``"plotly"``.

    Raises:
        CrystalInputError: ``backend`` or ``$CRYSTALKIT_VIEWER`` is not one of the three names.
    """
    choices = get_args(Backend)
    if backend not in choices:
        raise CrystalInputError(f"Unknown viewer backend {backend!r}: choose one of {', '.join(choices)}.")
    if backend != "auto":
        return backend  # type: ignore[return-value]
    forced = os.environ.get(VIEWER_ENV_VAR, "auto").strip().lower() or "auto"
    if forced not in choices:
        raise CrystalInputError(
            f"The environment variable {VIEWER_ENV_VAR}={os.environ[VIEWER_ENV_VAR]!r} is not one of "
            f"{', '.join(choices)}: fix or unset it."
        )
    if forced != "auto":
        return forced  # type: ignore[return-value]
    if not in_live_jupyter_session():
        return "plotly"
    problem = nglview_frontend_problem()
    if problem is not None:
        warnings.warn(
            f"Showing the crystal with plotly instead of nglview: {problem} "
            f"Set {VIEWER_ENV_VAR}=plotly to silence this warning.",
            stacklevel=3,
        )
        return "plotly"
    return "nglview"


def in_live_jupyter_session() -> bool:
    """True in an IPython kernel that a Jupyter server started for an open notebook or console.

    Rules 2 and 3 of the module docstring: the shell is a ``ZMQInteractiveShell``
    and the environment holds ``JPY_SESSION_NAME``.
    """
    if "IPython" not in sys.modules:  # nobody has started IPython in this process
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    return bool(os.environ.get("JPY_SESSION_NAME"))


def nglview_frontend_problem() -> str | None:
    """Why nglview could not draw here, or ``None`` if it can (rule 4 of the module docstring).

    Checks that nglview is installed and that a JupyterLab extension
    ``nglview-js-widgets`` with the same version as nglview's Python side is
    in one of Jupyter's data directories. Imports nothing heavy.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        python_version = version("nglview")
    except PackageNotFoundError:
        return "nglview is not installed (pip install nglview==3.1.4)."
    extension_versions = _installed_extension_versions(_NGLVIEW_EXTENSION)
    if not extension_versions:
        return (
            f"the JupyterLab extension {_NGLVIEW_EXTENSION} is not installed in this environment "
            f"(reinstall nglview=={python_version} with pip, then restart JupyterLab)."
        )
    if python_version not in extension_versions:
        return (
            f"nglview's Python side is {python_version} but its JupyterLab extension is "
            f"{', '.join(sorted(extension_versions))}; the browser will not draw the widget "
            "(pip install nglview==3.1.4, whose halves match)."
        )
    return None


def _installed_extension_versions(name: str) -> set[str]:
    """Versions of a prebuilt JupyterLab extension found in Jupyter's ``labextensions`` directories."""
    from jupyter_core.paths import jupyter_path

    found = set()
    for directory in jupyter_path("labextensions"):
        package_json = Path(directory) / name / "package.json"
        if package_json.is_file():
            try:
                found.add(str(json.loads(package_json.read_text())["version"]))
            except (OSError, ValueError, KeyError):
                continue
    return found
