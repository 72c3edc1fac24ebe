"""End to end: the crystal viewer draws in a real JupyterLab in a real browser.

Starts JupyterLab from this environment on a free localhost port, opens a
notebook in headless Debian Chromium (driven by the Playwright Python package
with ``executable_path="/usr/bin/chromium"``; Playwright's own browsers are
never downloaded), runs all cells from the Run menu, and checks that

* ``resolve_backend()`` picks nglview inside a live JupyterLab,
* ``view(...)`` in auto mode draws an nglview WebGL canvas with the crystal in it
  (non-blank pixels, oxygen-red among them), and
* ``view(..., backend="plotly")`` draws a plotly 3-D figure.

Chromium gets WebGL without a GPU through SwiftShader (``--use-gl=swiftshader
--enable-unsafe-swiftshader``). Install it with ``scripts/install_browser.sh``.
Without ``/usr/bin/chromium`` the test is skipped, unless
``CRYSTALKIT_REQUIRE_BROWSER=1`` (as in CI), which turns the skip into a failure.
Set ``CRYSTALKIT_BROWSER_ARTIFACTS=/some/dir`` to keep the screenshots.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT_S = 180  # a loaded 2-core machine took 58 s
KERNEL_READY_TIMEOUT_MS = 180_000
OUTPUT_TIMEOUT_MS = 180_000
NOTEBOOK = "crystal_viewer.ipynb"

CELLS = [
    "from pymatgen.core import Lattice, Structure\n"
    "from crystalkit.widgets import resolve_backend, view\n"
    "srtio3 = Structure(Lattice.cubic(3.905), ['Sr', 'Ti', 'O', 'O', 'O'],\n"
    "                   [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])\n"
    "print('auto backend:', resolve_backend())",
    "view(srtio3, supercell=(2, 2, 2))  # auto: nglview in a live JupyterLab",
    "view(srtio3, supercell=2, backend='plotly')",
]


def _require_browser() -> None:
    """Skip (or, with CRYSTALKIT_REQUIRE_BROWSER=1, fail) when the browser stack is missing."""
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} is missing (run: bash scripts/install_browser.sh)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright Python package is not installed (pip install playwright)")
    if problems:
        reason = "End-to-end browser test needs Chromium and Playwright: " + "; ".join(problems)
        if os.environ.get("CRYSTALKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (CRYSTALKIT_REQUIRE_BROWSER=1 is set, so this is a failure)")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_notebook(path: Path) -> None:
    """A notebook with kernelspec metadata, so JupyterLab starts python3 without asking."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on localhost serving a temporary folder; yields (url, token, root)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab_root")
    home = tmp_path_factory.mktemp("lab_home")
    _write_notebook(root / NOTEBOOK)
    # No "would you like news?" toast over the screenshots (and no attempt to fetch news).
    notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ)
    env.pop("CRYSTALKIT_VIEWER", None)  # the test is about what "auto" does in a live front end
    env.update(
        # Settings, workspaces and runtime files of this server stay in the temp folder.
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]),
    )
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ServerApp.open_browser=False", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log_path = home / "jupyterlab.log"
    log = open(log_path, "w")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(server, f"{url}/api/status?token={token}", log_path)
        yield url, token, root
    finally:
        server.terminate()  # SIGTERM: JupyterLab shuts its kernels down and exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _wait_for_server(server: subprocess.Popen, status_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture()
def artifacts(tmp_path) -> Path:
    """Where screenshots go: $CRYSTALKIT_BROWSER_ARTIFACTS if set, else the test's temp folder."""
    folder = Path(os.environ.get("CRYSTALKIT_BROWSER_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait_for_kernel_connection(url: str, token: str, timeout_s: float) -> None:
    """Wait until the notebook's kernel is idle and the browser holds a websocket to it (REST API)."""
    deadline = time.monotonic() + timeout_s
    sessions: list = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=5) as response:
            sessions = json.load(response)
        kernels = [session["kernel"] for session in sessions if session.get("kernel")]
        if any(kernel["execution_state"] == "idle" and kernel["connections"] >= 1 for kernel in kernels):
            return
        time.sleep(0.5)
    pytest.fail(f"The notebook's kernel did not become idle and connected within {timeout_s} s: {sessions}")


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run > Run All Cells; try again if the first cell did not start (a click can land before the kernel is wired)."""
    from playwright.sync_api import expect

    first_prompt = page.locator(".jp-Cell .jp-InputPrompt").first
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            expect(first_prompt).to_have_text(re.compile(r"\[(\*|\d+)\]"), timeout=15_000)
            return
        except AssertionError:
            continue
    prompt = first_prompt.inner_text()
    pytest.fail(f"Run All Cells did not start the first cell after {attempts} tries (prompt: {prompt!r})")


def _coloured_fraction(png: bytes) -> tuple[float, float]:
    """(fraction of pixels that are not near-white, fraction that are oxygen-red) in a screenshot."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)  # (H, W, 3)
    not_white = (rgb < 235).any(axis=2)
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)  # Jmol oxygen is #FF0D0D
    return float(not_white.mean()), float(red.mean())


def _wait_for_drawing(locator, timeout_s: float) -> tuple[bytes, float, float]:
    """Screenshot ``locator`` until something coloured is drawn in it (WebGL draws a moment after the canvas exists).

    A screenshot first waits for the page's fonts; on a busy 2-core machine that
    can take seconds, so a screenshot that times out is simply tried again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    deadline = time.monotonic() + timeout_s
    png, drawn, red = b"", 0.0, 0.0
    while time.monotonic() < deadline:
        try:
            png = locator.screenshot(timeout=30_000)
        except PlaywrightTimeoutError:
            continue
        drawn, red = _coloured_fraction(png)
        if drawn > 0.01 and red > 0.0005:
            break
        time.sleep(1.0)
    if not png:
        pytest.fail(f"Could not take a screenshot of {locator} within {timeout_s} s")
    return png, drawn, red


def _keep_screenshot(target, path: Path) -> None:
    """Save a screenshot for people to look at; a slow one is skipped, never a failure."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        target.screenshot(path=str(path), timeout=30_000)
    except PlaywrightTimeoutError:
        print(f"screenshot {path.name} timed out; skipped")


def test_viewer_draws_in_jupyterlab(jupyterlab, artifacts):
    from playwright.sync_api import expect, sync_playwright

    url, token, _ = jupyterlab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(OUTPUT_TIMEOUT_MS)
            console = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=KERNEL_READY_TIMEOUT_MS)

            expect(page.locator(".jp-Notebook")).to_be_visible(timeout=KERNEL_READY_TIMEOUT_MS)
            _wait_for_kernel_connection(url, token, timeout_s=KERNEL_READY_TIMEOUT_MS / 1000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_attached(
                timeout=KERNEL_READY_TIMEOUT_MS
            )
            _run_all_cells(page)

            # (0) auto mode picked nglview in this live front end.
            expect(page.locator(".jp-OutputArea-output", has_text="auto backend:")).to_contain_text(
                "auto backend: nglview", timeout=OUTPUT_TIMEOUT_MS
            )

            # (a) nglview: a WebGL canvas of non-zero size inside the widget, with the crystal drawn in it.
            ngl_canvas = page.locator(".crystalkit-ngl canvas").first
            expect(ngl_canvas).to_be_visible(timeout=OUTPUT_TIMEOUT_MS)
            box = ngl_canvas.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, box
            expect(page.locator(".crystalkit-legend")).to_contain_text("SrTiO3")
            png, drawn, red = _wait_for_drawing(ngl_canvas, timeout_s=60)  # the canvas alone: no legend dots
            (artifacts / "nglview_canvas.png").write_bytes(png)
            _keep_screenshot(page.locator(".crystalkit-viewer").first, artifacts / "nglview_viewer.png")
            assert drawn > 0.01, f"nglview canvas is blank ({drawn:.2%} coloured pixels); console: {console[-20:]}"
            assert red > 0.0005, f"no oxygen-red pixels in the nglview canvas ({red:.3%}); console: {console[-20:]}"

            # (b) plotly: a 3-D figure drawn with WebGL.
            plot = page.locator(".js-plotly-plot").first
            expect(plot).to_be_visible(timeout=OUTPUT_TIMEOUT_MS)
            plot.scroll_into_view_if_needed()
            plot_canvas = plot.locator(".gl-container canvas").first  # the WebGL canvas of the 3-D scene
            expect(plot_canvas).to_be_visible()
            box = plot_canvas.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100, box
            png, drawn, red = _wait_for_drawing(plot_canvas, timeout_s=60)  # the canvas alone: no legend
            (artifacts / "plotly_canvas.png").write_bytes(png)
            _keep_screenshot(plot, artifacts / "plotly_figure.png")
            assert drawn > 0.01 and red > 0.0005, f"plotly figure looks blank ({drawn:.2%}, red {red:.3%})"

            _keep_screenshot(page, artifacts / "jupyterlab.png")
            page_text = page.locator("body").inner_text()
            assert "Error displaying widget" not in page_text
            assert "is not registered" not in page_text
        finally:
            browser.close()


def test_install_script_is_idempotent_when_browser_present():
    """scripts/install_browser.sh exits 0 without touching apt when Chromium is already there."""
    _require_browser()
    script = Path(__file__).resolve().parents[1] / "scripts" / "install_browser.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
