"""The explorers of hdrlab.widgets in a real JupyterLab, driven by headless Chromium (DESIGN.md section 7).

A module fixture starts JupyterLab from this virtualenv (127.0.0.1, a free port, a random token,
``HDRLAB_PROFILE=quick``, its own settings, workspace and runtime folders under the test's temporary
folder) and Debian's Chromium through Playwright for Python (``executable_path``, no browser download;
``scripts/setup_browser.sh`` installs both). Each test opens one notebook, runs all its cells from the
Run menu, then changes every slider (an arrow key on the focused handle, which commits the value
of a ``continuous_update=False`` slider) and every dropdown of every explorer and asserts that the
explorer's image changed. A test fails on a console error or uncaught exception in the page, a Python
traceback in any output, or a widget shown as text (``VBox(...)``) instead of controls.

Notebooks: ``tests/browser/explorers.ipynb`` builds every explorer of ``hdrlab.widgets.__all__`` on small
inputs (a test below fails when one is missing); notebooks 00 and 01 run end to end, copied into the
temporary folder. Notebooks 02-05 train for minutes, so their explorers are covered by the fixture only, and
their trainings by ``tests/browser/training.ipynb``: each chapter's training function (what their training
cells call) cut to three steps by ``HDRLAB_MAX_STEPS``, which must print its time estimate and show a
widget progress bar that reaches its end.

Screenshots (each explorer after its controls were changed, each training cell, and each course notebook
after "Run All")
go to ``<tmp_path>/screenshots`` and, when ``HDRLAB_SCREENSHOTS`` names a folder, there too.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hdrlab import widgets

ROOT = Path(__file__).resolve().parents[1]
EXPLORERS_NOTEBOOK = ROOT / "tests" / "browser" / "explorers.ipynb"
TRAINING_NOTEBOOK = ROOT / "tests" / "browser" / "training.ipynb"
TRAINED_METHODS = ("expandnet", "metahdr", "multiexposure", "recursive", "hybrid")  # the cells of TRAINING_NOTEBOOK
CHROMIUM = Path("/usr/bin/chromium")
SETUP_HINT = "run `bash scripts/setup_browser.sh` (Debian's chromium package and Playwright for Python)"

SERVER_START_S = 60  # JupyterLab answering its API
KERNEL_START_S = 60  # a notebook's kernel idle after the page opened
RUN_ALL_S = {"explorers.ipynb": 90, "00_getting_started.ipynb": 150, "01_camera_pipeline_debevec.ipynb": 150,
             "training.ipynb": 400}
UPDATE_S = 60  # one control change -> the explorer's new image
WIDGET_TEXT = re.compile(r"^\s*(VBox|HBox|Box|interactive|Output|IntSlider|FloatSlider|FloatLogSlider|Dropdown)\(")
EMPTY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
PAGE_ERRORS = ("Traceback (most recent call last)", "Error displaying widget", "Error rendering output")

# Settings that differ from a learner's defaults: no news or update pop-up over the page; no windowing (cells
# scrolled out of view would be missing from the page, so they could not be found or screenshot); no blank page
# of scrolling past the end (it would be the last notebook screenshot).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "scrollPastEnd": False},
}


def _explorer_calls(notebook: Path) -> list[str]:
    """The ``widgets.<name>(...)`` calls that end a code cell of ``notebook`` (each renders one explorer), in order."""
    calls = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        body = ast.parse("".join(cell["source"])).body
        last = body[-1] if body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
            function = last.value.func
            if isinstance(function, ast.Attribute) and getattr(function.value, "id", None) == "widgets":
                calls.append(function.attr)
    return calls


def test_explorers_notebook_covers_every_explorer():
    """Each explorer of hdrlab.widgets.__all__ ends one cell of the browser fixture, which is stored without outputs."""
    cells = json.loads(EXPLORERS_NOTEBOOK.read_text())["cells"]
    assert not any(cell.get("outputs") for cell in cells), "store tests/browser/explorers.ipynb without outputs"
    shown = _explorer_calls(EXPLORERS_NOTEBOOK)
    assert sorted(shown) == sorted(widgets.__all__), "give each explorer one cell in tests/browser/explorers.ipynb"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children, grandchildren, ...), read from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we read
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


class Lab:
    """A JupyterLab server started for the tests: its URL, token, notebook folder and REST API."""

    def __init__(self, root: Path, state: Path):
        self.root = root
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{_free_port()}"
        for name, values in LAB_SETTINGS.items():
            (state / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
            (state / "settings" / name).write_text(json.dumps(values))
        env = dict(os.environ, HDRLAB_PROFILE="quick", JUPYTER_CONFIG_DIR=str(state / "config"),
                   JUPYTER_DATA_DIR=str(state / "data"), JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   IPYTHONDIR=str(state / "ipython"))
        for name in ("HDRLAB_PROGRESS", "HDRLAB_MAX_STEPS"):  # a learner's defaults: widget bars, whole trainings
            env.pop(name, None)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.base.rsplit(':', 1)[1]}", "--port-retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
                   f"--LabApp.user_settings_dir={state / 'settings'}",
                   f"--LabApp.workspaces_dir={state / 'workspaces'}",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # JupyterLab refuses root otherwise (CI containers run as root)
        self.log = state / "jupyterlab.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                self.api("status")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{self.log_tail()}")
                time.sleep(0.3)

    def api(self, path: str, method: str = "GET"):
        """The JSON answer of the server's REST endpoint ``/api/<path>`` (None when it has no body)."""
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        """The notebook in a workspace of its own, reset (no layout left from an earlier page)."""
        return f"{self.base}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?reset&token={self.token}"

    def wait_idle(self, timeout_s: float) -> None:
        """Wait until every kernel is idle (running cells and widget callbacks both keep a kernel busy)."""
        deadline = time.monotonic() + timeout_s
        while any(kernel["execution_state"] != "idle" for kernel in self.api("kernels")):
            if time.monotonic() > deadline:
                pytest.fail(f"a kernel stayed busy for {timeout_s} s")
            time.sleep(0.25)

    def shutdown_kernels(self) -> None:
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", "DELETE")

    def log_tail(self) -> str:
        return self.log.read_text()[-3000:]

    def close(self) -> None:
        """Stop the server and its kernels: the API first, then SIGKILL to whatever is left, by process id."""
        below = _descendants(self.process.pid)
        if self.process.poll() is None:
            try:
                self.api("shutdown", "POST")
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=15)
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # already gone (the usual case after the API shutdown)
                pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a temporary folder, with headless Chromium: ``(Lab, browser context, screenshot folder)``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed: {SETUP_HINT}")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {SETUP_HINT}")
    base = tmp_path_factory.mktemp("browser")
    (base / "notebooks").mkdir()
    screenshots = base / "screenshots"
    screenshots.mkdir()
    server = Lab(base / "notebooks", base)
    try:
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(30_000)
            # Requests that leave the machine (the Colab badge in the notebooks' markdown) get an empty image from
            # here, so the page logs no network error and the result is the same with and without internet.
            context.route(lambda url: not url.startswith(("data:", server.base)),
                          lambda route: route.fulfill(status=200, content_type="image/svg+xml", body=EMPTY_SVG))
            yield server, context, screenshots
        finally:
            playwright.stop()  # closes the browser
    finally:
        server.close()
        print(f"browser test screenshots: {screenshots}")


def _save(page_or_element, screenshots: Path, name: str) -> None:
    """A PNG in the test's screenshot folder, and in $HDRLAB_SCREENSHOTS when set."""
    page_or_element.screenshot(path=str(screenshots / name))
    if os.environ.get("HDRLAB_SCREENSHOTS"):
        extra = Path(os.environ["HDRLAB_SCREENSHOTS"])
        extra.mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshots / name, extra / name)


# In the page: each explorer is a top-level VBox in a cell's output holding an Output widget; it is marked with
# data-explorer (its index) and named by the widgets.<name>( call in its cell's source.
FIND_EXPLORERS = """() => {
    const boxes = [...document.querySelectorAll('.jp-Cell-outputArea .widget-vbox')]
        .filter(box => !box.parentElement.closest('.widget-vbox') && box.querySelector('.widget-output'));
    return boxes.map((box, index) => {
        box.setAttribute('data-explorer', index);
        const source = box.closest('.jp-CodeCell').querySelector('.jp-InputArea .cm-content').innerText;
        const calls = [...source.matchAll(/widgets\\.(\\w+)\\(/g)];
        return calls.length ? calls[calls.length - 1][1] : '?';
    });
}"""
PAGE_PROBLEMS = """([needles, widgetText]) => {
    const problems = [];
    for (const output of document.querySelectorAll('.jp-OutputArea-output')) {
        if (output.querySelector('.jp-OutputArea-output')) continue;  // an explorer: its Output widget is checked
        const text = output.innerText;
        for (const needle of needles) if (text.includes(needle)) problems.push(`${needle}: ${text.slice(0, 1500)}`);
        if (output.matches('[data-mime-type="text/plain"]') && new RegExp(widgetText).test(text))
            problems.push(`a widget rendered as text: ${text.slice(0, 200)}`);
    }
    return problems;
}"""
# Run All has ended: no cell queued or running ([*]), and the last cell has run or a cell failed (which stops it).
RUN_FINISHED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText);
    const outputs = [...document.querySelectorAll('.jp-OutputArea-output')];
    const failed = outputs.some(o => o.innerText.includes('Traceback'));
    const ended = prompts.length > 0 && /\\d/.test(prompts[prompts.length - 1]);
    return prompts.length > 0 && !prompts.some(p => p.includes('*')) && (ended || failed);
}"""


def _problems(page, errors: list[str]) -> list[str]:
    return errors + page.evaluate(PAGE_PROBLEMS, [list(PAGE_ERRORS), WIDGET_TEXT.pattern])


def _image(explorer) -> str | None:
    """The explorer's figure (the PNG its Output widget shows) as a short digest; None while it shows none."""
    images = explorer.locator(".widget-output img")
    if images.count() != 1:
        return None
    return hashlib.sha256(images.get_attribute("src").encode()).hexdigest()[:16]


def _wait_for_new_image(server: Lab, page, explorer, before: str, what: str, errors: list[str]) -> None:
    """Wait until the explorer shows one figure that differs from ``before``; fail at once on a page problem."""
    deadline = time.monotonic() + UPDATE_S
    while _image(explorer) in (None, before):
        if problems := _problems(page, errors):
            pytest.fail(f"{what}: {problems}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: no new figure within {UPDATE_S} s (one figure expected, a different one)")
        page.wait_for_timeout(200)
    server.wait_idle(UPDATE_S)


def _exercise(server: Lab, page, explorer, name: str, errors: list[str]) -> int:
    """Change each slider (an arrow key) and dropdown (the next option) of one explorer; each must redraw it."""
    sliders = explorer.locator(".widget-slider")
    dropdowns = explorer.locator(".widget-dropdown select")
    assert sliders.count() + dropdowns.count() > 0, f"{name} shows no slider or dropdown"
    for index in range(sliders.count()):
        slider = sliders.nth(index)
        label = f"{name} slider {slider.locator('.widget-label').inner_text()!r}"
        readout = slider.locator(".widget-readout")
        value, before = readout.inner_text(), _image(explorer)
        assert before, f"{label}: the explorer shows no figure"
        slider.locator(".noUi-handle").press("ArrowRight")
        if readout.inner_text() == value:  # at its maximum
            slider.locator(".noUi-handle").press("ArrowLeft")
        assert readout.inner_text() != value, f"{label}: the arrow keys did not move it"
        _wait_for_new_image(server, page, explorer, before, f"{label} {value} -> {readout.inner_text()}", errors)
    for index in range(dropdowns.count()):
        select = dropdowns.nth(index)
        options = select.locator("option").evaluate_all("options => options.map(o => o.value)")
        value, before = select.input_value(), _image(explorer)
        assert before, f"{name} dropdown {value!r}: the explorer shows no figure"
        choice = options[(options.index(value) + 1) % len(options)]
        select.select_option(choice)
        _wait_for_new_image(server, page, explorer, before, f"{name} dropdown {value!r} -> {choice!r}", errors)
    return sliders.count() + dropdowns.count()


def _save_notebook(page, screenshots: Path, stem: str) -> None:
    """The whole notebook as a few tall screenshots, scrolling its panel."""
    scroller = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer")
    height = scroller.evaluate("el => el.scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(height + 200, 6000)})
    page.wait_for_timeout(300)
    height, visible = scroller.evaluate("el => [el.scrollHeight, el.clientHeight]")
    for part in range(-(-height // visible)):
        scroller.evaluate(f"el => {{ el.scrollTop = {min(part * visible, height - visible)}; }}")
        page.wait_for_timeout(300)
        _save(page, screenshots, f"{stem}-run-all-{part + 1}.png")
    page.set_viewport_size({"width": 1400, "height": 1000})


@contextlib.contextmanager
def _run_all(server: Lab, context, source: Path, errors: list[str]):
    """Copy ``source`` next to JupyterLab, open it, Run All, wait until every cell ran without a problem, and
    yield the page; afterwards close it and shut the kernels down."""
    shutil.copy(source, server.root / source.name)
    page = context.new_page()
    try:
        page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        _open_and_run(server, page, source, errors)
        yield page
    finally:
        page.close()
        server.shutdown_kernels()


def _open_and_run(server: Lab, page, source: Path, errors: list[str]) -> None:
    """Open the copied notebook, Run All, and fail on an unrun cell or a problem on the page."""
    page.goto(server.url(source.name))
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=KERNEL_START_S * 1000)
    page.wait_for_function("() => document.querySelector('#jp-main-statusbar')?.innerText.includes('| Idle')",
                           timeout=KERNEL_START_S * 1000)
    page.click(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")  # fold the file browser: a wider notebook
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    started = time.monotonic()
    page.wait_for_function(RUN_FINISHED, polling=500, timeout=RUN_ALL_S[source.name] * 1000)
    server.wait_idle(UPDATE_S)
    print(f"{source.name}: Run All took {time.monotonic() - started:.0f} s")
    assert not _problems(page, errors), _problems(page, errors)
    prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "ps => ps.map(p => p.innerText)")
    assert all(re.search(r"\d", prompt) for prompt in prompts), f"cells left unrun: {prompts}"


@pytest.mark.parametrize("source", [EXPLORERS_NOTEBOOK, ROOT / "notebooks" / "00_getting_started.ipynb",
                                    ROOT / "notebooks" / "01_camera_pipeline_debevec.ipynb"], ids=lambda p: p.stem)
def test_browser_notebook_explorers(lab, source):
    """Run All in JupyterLab, then every control of every explorer redraws its figure; no error anywhere."""
    server, context, screenshots = lab
    expected = _explorer_calls(source)
    errors: list[str] = []
    with _run_all(server, context, source, errors) as page:
        if source != EXPLORERS_NOTEBOOK:
            _save_notebook(page, screenshots, source.stem)
        names = page.evaluate(FIND_EXPLORERS)
        assert names == expected, f"explorers rendered {names}, the notebook builds {expected}"
        controls = 0
        for index, name in enumerate(names):
            explorer = page.locator(f"[data-explorer='{index}']")
            controls += _exercise(server, page, explorer, name, errors)
            _save(explorer, screenshots, f"{source.stem}-{index + 1}-{name}.png")
        print(f"{source.name}: {len(names)} explorers, {controls} controls changed, each redrew its figure")
        assert not _problems(page, errors), _problems(page, errors)


def test_browser_training_shows_its_estimate_and_a_progress_bar(lab):
    """Each chapter's training, cut to 3 steps: the time estimate, then a widget progress bar that reached 3/3."""
    server, context, screenshots = lab
    errors: list[str] = []
    with _run_all(server, context, TRAINING_NOTEBOOK, errors) as page:
        cells = page.locator(".jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=".train_"))
        assert cells.count() == len(TRAINED_METHODS), f"{cells.count()} training cells, expected {TRAINED_METHODS}"
        for index, method in enumerate(TRAINED_METHODS):
            cell = cells.nth(index)
            bars = cell.locator(".jp-OutputArea .widget-hprogress")
            text = cell.locator(".jp-OutputArea").inner_text()
            assert bars.count() >= 1, f"{method}: no progress bar widget in its output:\n{text[:1500]}"
            assert re.search(r"training \d+ steps: about .+ on this device", text), f"{method}: no estimate:\n{text}"
            assert "HDRLAB_MAX_STEPS=3: this run stops at step 3" in text, f"{method}:\n{text[:1500]}"
            assert text.count("3/3") >= bars.count(), f"{method}: a bar did not reach 3/3:\n{text[:1500]}"
            _save(cell, screenshots, f"training-{index + 1}-{method}.png")
        print(f"training.ipynb: {len(TRAINED_METHODS)} trainings, each with its estimate and a full progress bar")
        assert not _problems(page, errors), _problems(page, errors)
