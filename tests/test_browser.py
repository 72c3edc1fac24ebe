"""End to end: the widgets draw in a real JupyterLab in a real browser, as a student sees them.

Starts JupyterLab from this environment on a free localhost port, opens
notebooks in headless Debian Chromium (driven by the Playwright Python package
with ``executable_path="/usr/bin/chromium"``; Playwright's own browsers are
never downloaded), runs all cells from the Run menu, and checks:

* a small notebook of viewer calls: ``resolve_backend()`` picks nglview inside a
  live JupyterLab; ``view(...)`` in auto mode draws an nglview WebGL canvas with
  the crystal in it (non-blank pixels, oxygen-red among them) and prints no
  warning (no pink box); a badly sheared cell fills its canvas; and
  ``view(..., backend="plotly")`` draws a plotly 3-D figure;
* the real course notebooks that hold a trajectory player (a copy with the
  quick-mode parameters injected by papermill, as ``make course`` runs them):
  every player is played to its end with a gallery on the page, and the
  crystal stays drawn during and after play, every other 3-D view on the page
  keeps drawing, no WebGL context is created or lost while playing, and the
  console holds no error and no "Too many active WebGL contexts";
* the course notebooks with another live control (a drop-down, slider or text
  box): the test moves the control as a student would and sees a drawing of
  the widget change (screenshots before and after), with no console error.

Chromium keeps at most 16 WebGL contexts per page and throws the oldest away
beyond that, so a widget that makes a new 3-D view per frame blanks the others.
An init script counts every WebGL context the page creates and every
``webglcontextlost`` event.

Chromium gets WebGL without a GPU through SwiftShader (``--use-gl=swiftshader
--enable-unsafe-swiftshader``). Install it with ``scripts/install_browser.sh``.
Without ``/usr/bin/chromium`` the test is skipped, unless
``CRYSTALKIT_REQUIRE_BROWSER=1`` (as in CI), which turns the skip into a failure.
Set ``CRYSTALKIT_BROWSER_ARTIFACTS=/some/dir`` to keep the screenshots and the
measured counts (``<notebook>.json``).
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

REPOSITORY = Path(__file__).resolve().parents[1]
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
COURSE_RUN_TIMEOUT_S = 420  # notebook 06 up to its gallery: 2.5 minutes on 2 cores shared with other work
PLAY_TIMEOUT_S = 120  # 40 frames at 0.3 s, each a round trip to the kernel
NOTEBOOK = "crystal_viewer.ipynb"
NOTEBOOK_SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in the front tab

#: Course notebooks with a live trajectory player, run as a student runs them (quick mode).
#: Course notebooks with a live trajectory player, and how many plotly 3-D panels (a gallery) each shows beside it.
PLAYER_NOTEBOOKS = {"06_diffusion.ipynb": 2, "07_flow_matching.ipynb": 0}
#: Course notebooks with a live control: a CSS selector of the widget and the control the test moves in it
#: ("dropdown": choose another entry; "slider": drag the handle to the far end; "text:X": type X and press
#: Enter; "plotly-slider": click the left end of a plotly figure's own slider, which lives in the browser).
CONTROL_NOTEBOOKS = {
    "04_vae.ipynb": [(".crystalkit-latent-explorer", "slider")],
    "05_gan_and_normalizing_flow.ipynb": [(".js-plotly-plot:has(.slider-container)", "plotly-slider")],
    "08_language_models_and_gflownets.ipynb": [(".crystalkit-prompt", "text:BaZrO3"),
                                               (".crystalkit-gflownet", "slider")],
    "10_experimental_validation.ipynb": [(".crystalkit-xrd-comparison", "dropdown")],
    "11_disorder_and_defects.ipynb": [(".crystalkit-defect-builder", "dropdown")],
    "12_explainability.ipynb": [(".js-plotly-plot:has(.slider-container)", "plotly-slider")],
    "13_inverse_design.ipynb": [(".crystalkit-playground", "slider")],
    "14_capstone.ipynb": [(".crystalkit-chooser", "dropdown")],
}
COURSE_PARAMETERS = {"QUICK": True, "SEED": 0}
WIDGET_CALL = re.compile(
    r"\b(view|gallery|trajectory_player|trajectory_figure|xrd_comparison|latent_explorer|prompt_widget"
    r"|gflownet_widget|gan_training_figure|sampling_playground|waterfall_figure|defect_builder|model_chooser)\("
)

#: A canvas counts as drawn when more than this fraction of its pixels is not near-white. A blank nglview
#: canvas shows only its resize grip (0.005%); a small crystal far inside a large noise cell, 0.9%.
DRAWN = 0.002

#: Chromium's words when a page holds too many WebGL contexts, and when one is lost.
LOST_CONTEXT = re.compile(r"too many active webgl contexts|context lost|contextlost|lost context", re.IGNORECASE)

CELLS = [
    "import numpy as np\n"
    "from pymatgen.core import Lattice, Structure\n"
    "from crystalkit.widgets import resolve_backend, view\n"
    "srtio3 = Structure(Lattice.cubic(3.905), ['Sr', 'Ti', 'O', 'O', 'O'],\n"
    "                   [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])\n"
    "print('auto backend:', resolve_backend())",
    "view(srtio3, supercell=(2, 2, 2))  # auto: nglview in a live JupyterLab",
    "view(srtio3, supercell=2, backend='plotly')",
    "# notebook 01's badly sheared but equivalent cell of SrTiO3\n"
    "from crystalkit.representations import change_cell\n"
    "view(change_cell(srtio3, matrix=np.array([[1, 3, 1], [0, 1, 2], [0, 1, 3]])), title='sheared')",
]

#: Runs before any page script: counts the WebGL contexts the page makes and loses.
WEBGL_PROBE = """
(() => {
  const stats = {created: 0, lost: 0};
  window.__crystalkitWebGL = stats;
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const context = getContext.call(this, type, ...rest);
    if (context && /webgl/i.test(String(type)) && !this.__crystalkitCounted) {
      this.__crystalkitCounted = true;
      stats.created += 1;
      this.addEventListener('webglcontextlost', () => { stats.lost += 1; });
    }
    return context;
  };
})();
"""


# ----------------------------------------------------------------------------- the server
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


def _prepare_course_notebook(name: str, folder: Path) -> None:
    """A copy of a course notebook, quick-mode parameters injected by papermill, up to its last widget.

    The cells after the last one that draws a crystal widget score and design
    crystals (minutes of sampling and CHGNet in notebook 06) and show nothing
    3-D; tests/test_notebooks.py runs them. Nothing is run here.
    """
    import nbformat
    import papermill

    papermill.execute_notebook(
        str(REPOSITORY / "notebooks" / name), str(folder / name), parameters=COURSE_PARAMETERS,
        prepare_only=True, kernel_name="python3", progress_bar=False,
    )
    notebook = nbformat.read(folder / name, as_version=4)
    drawn = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and WIDGET_CALL.search(cell.source)]
    last = max(drawn)
    notebook.cells = notebook.cells[: last + 1]
    nbformat.write(notebook, folder / name)


def _write_settings(settings: Path) -> None:
    """JupyterLab settings for a quiet, fully rendered page."""
    files = {
        # No "would you like news?" toast over the screenshots (and no attempt to fetch news).
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        # Every cell stays in the page, so the test can find each output without scrolling.
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in files.items():
        path = settings / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on localhost serving a temporary folder; yields (url, token, root)."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab_root")
    home = tmp_path_factory.mktemp("lab_home")
    _write_notebook(root / NOTEBOOK)
    for name in {**PLAYER_NOTEBOOKS, **CONTROL_NOTEBOOKS}:
        _prepare_course_notebook(name, root)
    _write_settings(home / "settings")
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ)
    env.pop("CRYSTALKIT_VIEWER", None)  # the test is about what "auto" does in a live front end
    env.update(
        # Settings, workspaces and runtime files of this server stay in the temp folder.
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        PYTHONPATH=os.pathsep.join([str(REPOSITORY), env.get("PYTHONPATH", "")]),
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


@pytest.fixture()
def browser():
    """Headless Debian Chromium with software WebGL."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# ----------------------------------------------------------------------------- driving JupyterLab
def _open_notebook(browser, jupyterlab, name: str) -> tuple[object, list[str]]:
    """Open a notebook, wait for its kernel; returns the page and the list its console messages go to."""
    from playwright.sync_api import expect

    url, token, _ = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(OUTPUT_TIMEOUT_MS)
    page.add_init_script(WEBGL_PROBE)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    # ?reset: open this notebook alone, not the tabs an earlier test left in the saved workspace.
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}", timeout=KERNEL_READY_TIMEOUT_MS)
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=KERNEL_READY_TIMEOUT_MS)
    _wait_for_kernel_connection(url, token, name, timeout_s=KERNEL_READY_TIMEOUT_MS / 1000)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first).to_be_attached(
        timeout=KERNEL_READY_TIMEOUT_MS
    )
    return page, console


def _wait_for_kernel_connection(url: str, token: str, name: str, timeout_s: float) -> None:
    """Wait until the notebook's kernel is idle and the browser holds a websocket to it (REST API)."""
    deadline = time.monotonic() + timeout_s
    sessions: list = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=5) as response:
            sessions = json.load(response)
        kernels = [s["kernel"] for s in sessions if s.get("kernel") and s.get("path", "").endswith(name)]
        if any(kernel["execution_state"] == "idle" and kernel["connections"] >= 1 for kernel in kernels):
            return
        time.sleep(0.5)
    pytest.fail(f"The kernel of {name} did not become idle and connected within {timeout_s} s: {sessions}")


def _code_prompts(page) -> list[str]:
    """The execution prompts of the code cells, in order: ``"[ ]:"``, ``"[*]:"``, ``"[3]:"``."""
    return page.locator(f"{NOTEBOOK_SHOWN} .jp-CodeCell .jp-InputPrompt").all_inner_texts()


def _run_all_cells(page, attempts: int = 3) -> None:
    """Run > Run All Cells, once; click again only if no code cell was queued (a click can land too early).

    A notebook may open with a markdown cell, whose prompt is always empty, so
    this watches the code cells' prompts only.
    """
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(re.search(r"\[(\*|\d+)\]", prompt) for prompt in _code_prompts(page)):
                return
            time.sleep(0.25)
    pytest.fail(f"Run All Cells queued no code cell after {attempts} tries (prompts: {_code_prompts(page)})")


def _wait_until_every_cell_ran(page, timeout_s: float) -> None:
    """Wait until every code cell shows an execution count; fail early, with the traceback, on an error."""
    deadline = time.monotonic() + timeout_s
    prompts: list[str] = []
    while time.monotonic() < deadline:
        errors = page.locator(f"{NOTEBOOK_SHOWN} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
        if errors.count():
            pytest.fail(f"A cell raised:\n{errors.first.inner_text()[-3000:]}")
        prompts = _code_prompts(page)
        if prompts and all(re.search(r"\[\d+\]", prompt) for prompt in prompts):
            return
        time.sleep(1.0)
    pytest.fail(f"The notebook did not finish within {timeout_s} s (prompts: {prompts})")


def _webgl(page) -> dict[str, int]:
    """WebGL contexts the page has created and lost so far, and canvases holding one now."""
    return page.evaluate(
        "() => ({...window.__crystalkitWebGL,"
        " live: [...document.querySelectorAll('canvas')].filter(c => c.__crystalkitCounted).length})"
    )


# ----------------------------------------------------------------------------- looking at pixels
def _coloured_fraction(png: bytes) -> tuple[float, float]:
    """(fraction of pixels that are not near-white, fraction that are oxygen-red) in a screenshot (0 for none)."""
    import numpy as np
    from PIL import Image

    if not png:
        return 0.0, 0.0
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)  # (H, W, 3)
    not_white = (rgb < 235).any(axis=2)
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)  # Jmol oxygen is #FF0D0D
    return float(not_white.mean()), float(red.mean())


def _drawing_extent(png: bytes) -> tuple[float, float]:
    """(width, height) of the box around every non-white pixel, as fractions of the screenshot's."""
    import numpy as np
    from PIL import Image

    if not png:
        return 0.0, 0.0
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)  # (H, W, 3)
    drawn = (rgb < 235).any(axis=2)  # (H, W)
    drawn[-24:, -24:] = False  # nglview's resize grip sits over the bottom-right corner
    rows, cols = np.nonzero(drawn)
    if len(rows) == 0:
        return 0.0, 0.0
    return (cols.max() - cols.min() + 1) / rgb.shape[1], (rows.max() - rows.min() + 1) / rgb.shape[0]


def _screenshot(locator, timeout_s: float = 60) -> bytes:
    """A screenshot of ``locator``, or ``b""`` if none could be taken within ``timeout_s``.

    A screenshot first waits for the page's fonts, which can take seconds on a
    busy 2-core machine, and fails if the element is replaced meanwhile (as a
    player that draws a new view per frame does): both are tried again.
    """
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            return locator.screenshot(timeout=max(1_000, min(30_000, 1000 * left)))
        except PlaywrightError:  # a timeout, or the element left the page
            time.sleep(0.2)
    return b""


def _wait_for_drawing(locator, timeout_s: float, need_red: bool = True) -> tuple[bytes, float, float]:
    """Screenshot ``locator`` until something coloured is drawn in it (WebGL draws a moment after the canvas exists)."""
    deadline = time.monotonic() + timeout_s
    png, drawn, red = b"", 0.0, 0.0
    while time.monotonic() < deadline:
        png = _screenshot(locator, timeout_s=max(5.0, deadline - time.monotonic()))
        drawn, red = _coloured_fraction(png)
        if drawn > DRAWN and (red > 0.0005 or not need_red):
            break
        time.sleep(1.0)
    return png, drawn, red


def _keep_screenshot(target, path: Path) -> None:
    """Save a screenshot for people to look at; a slow one is skipped, never a failure."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        target.screenshot(path=str(path), timeout=30_000)
    except PlaywrightTimeoutError:
        print(f"screenshot {path.name} timed out; skipped")


# ----------------------------------------------------------------------------- the viewer
def test_viewer_draws_in_jupyterlab(jupyterlab, browser, artifacts):
    from playwright.sync_api import expect

    page, console = _open_notebook(browser, jupyterlab, NOTEBOOK)
    _run_all_cells(page)
    _wait_until_every_cell_ran(page, timeout_s=OUTPUT_TIMEOUT_MS / 1000)

    # (0) auto mode picked nglview in this live front end.
    expect(page.locator(".jp-OutputArea-output", has_text="auto backend:")).to_contain_text(
        "auto backend: nglview", timeout=OUTPUT_TIMEOUT_MS
    )

    # (a) nglview: a WebGL canvas of non-zero size inside the widget, with the crystal drawn in it.
    ngl_canvas = page.locator(".crystalkit-ngl canvas").first
    expect(ngl_canvas).to_be_visible(timeout=OUTPUT_TIMEOUT_MS)
    box = ngl_canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100, box
    expect(page.locator(".crystalkit-legend").first).to_contain_text("SrTiO3")
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

    # (c) the sheared cell is framed to fill its canvas (not drawn small in the middle).
    sheared = page.locator(".crystalkit-viewer", has_text="sheared").locator(".crystalkit-ngl canvas")
    png, drawn, red = _wait_for_drawing(sheared, timeout_s=60)
    (artifacts / "nglview_sheared.png").write_bytes(png)
    width, height = _drawing_extent(png)

    _keep_screenshot(page, artifacts / "jupyterlab.png")
    page_text = page.locator("body").inner_text()
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    errors = [line for line in console if line.startswith(("error", "pageerror"))]
    measured = {"sheared_extent": [width, height], "stderr_outputs": stderr, "console_errors": errors}
    (artifacts / "viewer.json").write_text(json.dumps(measured, indent=1))
    print(json.dumps(measured))
    assert max(width, height) > 0.7, f"the sheared cell fills only {width:.0%} x {height:.0%} of its canvas"
    # (d) importing nglview through the kit printed no warning: no pink box under any cell.
    assert not stderr, f"a cell wrote to stderr: {stderr}"
    assert "Error displaying widget" not in page_text
    assert "is not registered" not in page_text
    assert not errors, f"console errors: {errors}"


# ----------------------------------------------------------------------------- course notebooks with a player
def _play_to_the_end(page, player, artifacts: Path, label: str) -> list[float]:
    """Press play on a trajectory player; screenshot its crystal while it plays; wait for the last frame.

    Returns the coloured fraction of each screenshot, during play and then at the end. While the
    crystal changes, Playwright never finds the canvas "stable" enough for an element screenshot,
    so these are screenshots of the page clipped to where the canvas was when play was pressed.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    player.scroll_into_view_if_needed()
    caption = player.locator(".widget-html").first
    canvas = player.locator(".crystalkit-ngl canvas").first
    box = canvas.bounding_box()
    player.locator(".widget-play button").first.click()
    seen = []
    deadline = time.monotonic() + PLAY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = caption.inner_text()
        try:
            png = page.screenshot(clip=box, timeout=10_000)
        except PlaywrightError:
            png = b""
        seen.append(_coloured_fraction(png)[0])
        step = re.search(r"step (\d+) of (\d+)", text)
        if step and step.group(1) == step.group(2):
            break
        if len(seen) == 2:
            (artifacts / f"{label}_playing.png").write_bytes(png)
        time.sleep(0.5)
    expect(caption).to_contain_text(re.compile(r"step (\d+) of \1\b"), timeout=5_000)
    png, drawn, _ = _wait_for_drawing(canvas, timeout_s=30, need_red=False)
    (artifacts / f"{label}_end.png").write_bytes(png)
    return seen + [drawn]


def _drag(page, locator) -> str | None:
    """Drag the mouse across the middle of ``locator`` (rotates a 3-D scene); why it could not, or None."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        locator.scroll_into_view_if_needed(timeout=20_000)
        box = locator.bounding_box()
    except PlaywrightError as error:  # e.g. a scene whose WebGL context was lost is hidden
        return str(error).splitlines()[0]
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 30, steps=8)
    page.mouse.up()
    return None


@pytest.mark.parametrize("notebook", list(PLAYER_NOTEBOOKS))
def test_course_notebook_players_keep_every_view_drawing(jupyterlab, browser, artifacts, notebook):
    from playwright.sync_api import expect

    page, console = _open_notebook(browser, jupyterlab, notebook)
    label = Path(notebook).stem
    _run_all_cells(page)
    _wait_until_every_cell_ran(page, timeout_s=COURSE_RUN_TIMEOUT_S)

    players = page.locator(".crystalkit-trajectory")
    expect(players.first.locator(".crystalkit-ngl canvas")).to_be_visible(timeout=OUTPUT_TIMEOUT_MS)
    scenes = page.locator(".js-plotly-plot .gl-container canvas")  # a gallery: one WebGL canvas per panel
    views = [players.nth(i).locator(".crystalkit-ngl canvas").first for i in range(players.count())]
    views += [scenes.nth(i) for i in range(scenes.count())]
    assert players.count() >= 1 and scenes.count() >= PLAYER_NOTEBOOKS[notebook], (players.count(), scenes.count())
    for view in views:
        assert _wait_for_drawing(view, timeout_s=60, need_red=False)[1] > DRAWN, f"{view} is blank before play"
    before = _webgl(page)

    during = {}
    for index in range(players.count()):
        during[index] = _play_to_the_end(page, players.nth(index), artifacts, f"{label}_player{index}")
    after_play = _webgl(page)
    drag_problem = _drag(page, scenes.first) if scenes.count() else None  # rotating the gallery after play
    time.sleep(2.0)
    blank = [str(view) for view in views if _wait_for_drawing(view, timeout_s=20, need_red=False)[1] <= DRAWN]
    after = _webgl(page)
    _keep_screenshot(page, artifacts / f"{label}.png")

    lost_messages = [line for line in console if LOST_CONTEXT.search(line)]
    errors = [line for line in console if line.startswith(("error", "pageerror"))]
    measured = {
        "views": len(views), "webgl_before_play": before, "webgl_after_play": after_play, "webgl_after_drag": after,
        "coloured_fraction_while_playing": during, "lost_context_messages": len(lost_messages),
        "console_errors": errors[:20], "blank_views_after_play": blank, "drag_problem": drag_problem,
    }
    (artifacts / f"{label}.json").write_text(json.dumps(measured, indent=1))
    print(json.dumps(measured))
    assert not lost_messages, f"{len(lost_messages)} lost-context messages, first: {lost_messages[:3]}"
    assert after["lost"] == 0, f"WebGL contexts were lost: {measured}"
    assert after["created"] == before["created"], f"playing or dragging created WebGL contexts: {measured}"
    assert before["created"] <= 16, f"the notebook holds more WebGL contexts than Chromium keeps: {before}"
    assert all(min(fractions) > DRAWN for fractions in during.values()), f"a player went blank: {during}"
    assert not blank, f"views blank after play: {blank}"
    assert drag_problem is None, f"could not rotate the gallery after play: {drag_problem}"
    assert not errors, f"console errors: {errors[:5]}"


def _drawing_locator(widget):
    """The drawings of a widget: its plotly figures and nglview canvases; for a plotly figure, its plot area."""
    drawings = widget.locator(".js-plotly-plot, .crystalkit-ngl canvas")
    return drawings if drawings.count() else widget.locator(".cartesianlayer, .gl-container")


def _drawings(widget) -> list[bytes]:
    """Screenshots of every drawing inside a widget (see :func:`_drawing_locator`)."""
    drawings = _drawing_locator(widget)
    return [_screenshot(drawings.nth(i), timeout_s=30) for i in range(drawings.count())]


def _changed_fraction(before: bytes, after: bytes) -> float:
    """Fraction of pixels that differ between two screenshots, over the region both cover (1.0 if one is missing)."""
    import numpy as np
    from PIL import Image

    if not before or not after:
        return 1.0 if before != after else 0.0
    a = np.asarray(Image.open(io.BytesIO(before)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(after)).convert("RGB")).astype(int)
    height, width = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])  # a resized output: compare the overlap
    return float((np.abs(a[:height, :width] - b[:height, :width]).max(axis=2) > 24).mean())


def _move_control(page, widget, kind: str) -> str:
    """Move the first control of ``kind`` in ``widget`` as a student would; returns what was done."""
    if kind == "dropdown":
        select = widget.locator(".widget-dropdown select >> visible=true").first
        select.scroll_into_view_if_needed()
        options = select.locator("option").all_inner_texts()
        select.select_option(index=1)
        return f"chose {options[1]!r} (was {options[0]!r})"
    if kind == "slider":
        # The first visible slider: an nglview widget carries a hidden slider of its own.
        slider = widget.locator(".widget-slider >> visible=true").first
        base, handle = slider.locator(".noUi-base").first, slider.locator(".noUi-handle").first
        # Scroll without Playwright's wait for a "stable" element: a live 3-D view beside it can keep the
        # layout from ever counting as stable.
        base.evaluate("element => element.scrollIntoView({block: 'center'})")
        time.sleep(0.5)
        start, track = handle.bounding_box(), base.bounding_box()
        page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] - 1, start["y"] + start["height"] / 2, steps=12)
        page.mouse.up()
        return "dragged the slider to its far end"
    if kind == "plotly-slider":
        rail = widget.locator(".slider-rail-touch-rect").first
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
        return "clicked the left end of the figure's slider"
    if kind.startswith("text:"):
        box = widget.locator(".widget-text input >> visible=true").first
        box.scroll_into_view_if_needed()
        box.fill(kind.split(":", 1)[1])
        box.press("Enter")
        return f"typed {kind.split(':', 1)[1]!r}"
    raise ValueError(f"unknown control kind {kind!r}")


@pytest.mark.parametrize("notebook", list(CONTROL_NOTEBOOKS))
def test_moving_a_course_widget_control_changes_its_drawing(jupyterlab, browser, artifacts, notebook):
    """The live controls of the course notebooks (drop-downs, sliders, text boxes) redraw what they control."""
    page, console = _open_notebook(browser, jupyterlab, notebook)
    label = Path(notebook).stem
    _run_all_cells(page)
    _wait_until_every_cell_ran(page, timeout_s=COURSE_RUN_TIMEOUT_S)
    measured = {}
    for number, (selector, kind) in enumerate(CONTROL_NOTEBOOKS[notebook]):
        measured[selector] = _move_and_compare(page, page.locator(selector).first, kind, artifacts,
                                               f"{label}_control{number}")
    errors = [line for line in console if line.startswith(("error", "pageerror"))]
    measured["console_errors"] = errors[:20]
    (artifacts / f"{label}_controls.json").write_text(json.dumps(measured, indent=1))
    print(json.dumps(measured))
    unchanged = {name: m for name, m in measured.items() if name != "console_errors" and max(m["changed"]) <= 0.002}
    assert not unchanged, f"a control moved but no drawing changed: {unchanged}"
    assert not errors, f"console errors: {errors[:5]}"


def _wait_for_idle_kernel(page, timeout_s: float) -> None:
    """Wait (up to ``timeout_s``) until the notebook's kernel is idle again after a control moved.

    The kernel may take a moment to turn busy, so the indicator must read idle twice, a second apart.
    """
    indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
    deadline, idle_reads = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline and idle_reads < 2:
        time.sleep(1.0)
        idle_reads = idle_reads + 1 if indicator.get_attribute("data-status") == "idle" else 0


def _move_and_compare(page, widget, kind: str, artifacts: Path, label: str) -> dict:
    """Screenshot a widget's drawings, move its control, and measure how much of each drawing changed."""
    from playwright.sync_api import expect

    expect(widget).to_be_visible(timeout=OUTPUT_TIMEOUT_MS)
    widget.scroll_into_view_if_needed()
    expect(widget.locator(".js-plotly-plot, .crystalkit-ngl canvas, .cartesianlayer").first).to_be_visible(
        timeout=OUTPUT_TIMEOUT_MS)
    # What a hover shows (plotly's toolbar, a tooltip) is not a redraw: hide the toolbar and keep the mouse
    # off the drawings whenever a screenshot is taken.
    page.add_style_tag(content=".modebar-container, .hoverlayer { display: none !important; }")
    page.mouse.move(0, 0)
    drawings = _drawing_locator(widget)
    for i in range(drawings.count()):
        _wait_for_drawing(drawings.nth(i), timeout_s=60, need_red=False)
    before = _drawings(widget)
    _keep_screenshot(widget, artifacts / f"{label}_before.png")
    action = _move_control(page, widget, kind)
    page.mouse.move(0, 0)
    _wait_for_idle_kernel(page, timeout_s=90)  # the kernel computes the answer first; compare after it
    changed: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the front end redraws what the kernel sent
        after = _drawings(widget)
        changed = [_changed_fraction(b, a) for b, a in zip(before, after)] + [float(len(after) != len(before))]
        if max(changed) > 0.002:
            break
        time.sleep(1.0)
    _keep_screenshot(widget, artifacts / f"{label}_after.png")
    return {"action": action, "drawings": len(before), "changed": changed}


def test_install_script_is_idempotent_when_browser_present():
    """scripts/install_browser.sh exits 0 without touching apt when Chromium is already there."""
    _require_browser()
    script = REPOSITORY / "scripts" / "install_browser.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
