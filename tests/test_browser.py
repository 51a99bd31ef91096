"""The workbook in a real browser: JupyterLab driven by headless Chromium through selenium.

Notebook 09 runs with the smoke parameters; its alignment viewer renders as widgets whose controls redraw
the figure, and survives saving and reopening; notebook 03's LaTeX renders. Screenshots go to build/browser/.
Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when it runs as root); nothing is
downloaded at run time.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tsin_nb.runs import NOTEBOOKS, REPO

pytestmark = pytest.mark.slow

REPO = REPO
SHOTS = REPO / "build" / "browser"
LAB_OVERRIDES = REPO / "jupyter-config" / "lab" / "settings" / "overrides.d" / "tsin-nb.json"
CHROMIUM = os.environ.get("TSIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("TSIN_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1500,1100")
VIEWER_NB = "09_alignment_viewer.ipynb"
EQUATIONS_NB = "03_tsi_equations.ipynb"

if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip(f"no browser: needs Chromium at {CHROMIUM} and chromedriver at {CHROMEDRIVER} "
                "(apt-get install chromium chromium-driver; .ci/run does this as root)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing: install the dev extra")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(every)


@dataclass
class Lab:
    """A running JupyterLab on a copy of the notebooks, and a browser logged in to it."""

    url: str
    token: str
    notebooks: Path
    driver: Any
    log: Path

    def open(self, name: str) -> None:
        """Open a notebook and wait until its kernel is ready."""
        self.driver.get(f"{self.url}/lab/tree/{name}?token={self.token}")
        _wait(f"{name} to open with a ready kernel", lambda: self.js(
            "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            "if (!w || !w.context || !w.context.isReady || w.context.path !== arguments[0]) return null;"
            "const k = w.sessionContext.session && w.sessionContext.session.kernel;"
            "return k && k.status === 'idle';", name), timeout=60)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def js_async(self, script: str, *args: Any) -> Any:
        """Run an async function body; its return value comes back."""
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"(async (...args) => {{ {script} }})(...Array.from(arguments).slice(0, -1))"
            ".then(done, e => done({error: String(e)}));", *args)

    def cells(self) -> dict[str, Any]:
        """Code cells not run yet, error outputs, and the kernel's status of the current notebook."""
        return self.js(
            "const w = window.jupyterapp.shell.currentWidget; let pending = 0; const errors = [];"
            "w.content.widgets.forEach((cell, i) => { const m = cell.model; if (m.type !== 'code') return;"
            "  if (m.executionCount === null) pending++;"
            "  for (const o of m.outputs.toJSON()) if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);"
            "});"
            "const k = w.sessionContext.session && w.sessionContext.session.kernel;"
            "return {pending, errors, status: k ? k.status : 'none',"
            "        widget_errors: document.body.innerText.split('Error displaying widget').length - 1};")

    def shot(self, name: str, element: Any = None) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        if element is not None:
            element.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))
        return path

    def fail_with_log(self, message: str) -> None:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        pytest.fail(f"{message}\n--- JupyterLab log (tail) ---\n{tail}")


def _prepare_notebooks(root: Path) -> Path:
    """A copy of the notebooks; notebook 09 gets the smoke parameters injected as papermill would."""
    import papermill as pm

    nbs = root / "notebooks"
    shutil.copytree(NOTEBOOKS, nbs, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    params = yaml.safe_load((NOTEBOOKS / "smoke.yaml").read_text())
    params.update(build_dir=str(root / "build"), fig_dir=str(root / "figures"), device="cpu")
    known = pm.inspect_notebook(str(nbs / VIEWER_NB))
    pm.execute_notebook(str(nbs / VIEWER_NB), str(nbs / VIEWER_NB), prepare_only=True, progress_bar=False,
                        parameters={k: v for k, v in params.items() if k in known})
    return nbs


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, smoke_build: tuple[int, Path]) -> Iterator[Lab]:
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("lab")
    code, smoke = smoke_build
    if code == 0:  # the smoke run's corpus, features and folds: notebook 09 then trains nothing in the browser
        shutil.copytree(smoke / "build", root / "build", ignore=shutil.ignore_patterns("notebooks"))
    nbs = _prepare_notebooks(root)
    settings = root / "app-settings" / "overrides.d"
    settings.mkdir(parents=True)
    shutil.copy(LAB_OVERRIDES, settings / LAB_OVERRIDES.name)  # as `make install` puts it in the venv
    (settings / "zz-test-browser.json").write_text(json.dumps(  # no "get notified about Jupyter news?" toast
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "SE_OFFLINE": "true"}
    log = root / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={nbs}", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--LabServerApp.app_settings_dir={settings.parent}",
           f"--LabServerApp.user_settings_dir={root / 'user-settings'}",
           f"--LabServerApp.workspaces_dir={root / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # CI runs as root
    with open(log, "wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=nbs)
    url = f"http://127.0.0.1:{port}"
    driver = None
    try:
        def ready() -> bool:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                req = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        _wait("JupyterLab to answer", ready, timeout=90)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={root / 'chromium-profile'}"):
            options.add_argument(flag)
        os.environ.setdefault("SE_OFFLINE", "true")  # selenium never looks for a driver or browser online
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER, log_output=str(root / "chromedriver.log")),
                                  options=options)
        driver.set_script_timeout(60)
        yield Lab(url=url, token=token, notebooks=nbs, driver=driver, log=log)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


VIEWER_STATE = """
const dd = document.querySelector('.widget-dropdown select');
if (!dd) return null;
const box = dd.closest('.widget-vbox');
const slider = box.querySelector('.widget-slider');
const readout = slider && slider.querySelector('.widget-readout');
const left = slider && slider.closest('.widget-vbox');
const img = box.querySelector('.widget-output img');
const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
return {
  options: dd.options.length, selected: dd.selectedIndex,
  readout: readout ? readout.textContent.trim() : null,
  readout_shown: !!readout && readout.offsetWidth > 0 && getComputedStyle(readout).visibility !== 'hidden',
  readout_rect: readout ? r(readout) : null, left_rect: left ? r(left) : null, box_rect: r(box),
  left_overflow: left ? left.scrollWidth - left.clientWidth : null, box_overflow: box.scrollWidth - box.clientWidth,
  img: img ? img.getAttribute('src') : null, img_width: img ? img.naturalWidth : 0,
};
"""


def _viewer(lab: Lab) -> dict[str, Any]:
    return _wait("the alignment viewer to render", lambda: (lambda s: s if s and s["img"] else None)(lab.js(VIEWER_STATE)),
                 timeout=60)


def _brief(state: dict[str, Any]) -> dict[str, Any]:
    """The viewer's state for a failure message, without the image's bytes."""
    return {**state, "img": f"<{len(state['img'] or '')} characters>"}


def _inside(inner: list[float], outer: list[float], slack: float = 1.0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack and inner[2] <= outer[2] + slack
            and inner[3] <= outer[3] + slack)


def test_viewer_runs_and_its_controls_redraw_the_figure(lab: Lab) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    lab.open(VIEWER_NB)
    lab.js("window.jupyterapp.commands.execute('notebook:run-all-cells'); return true;")
    state = _wait("every cell to run (or an error)", lambda: (lambda s: s if s["errors"] or (
        s["pending"] == 0 and s["status"] == "idle") else None)(lab.cells()), timeout=240, every=1.0)
    if state["errors"]:
        lab.shot("09_error")
        lab.fail_with_log(f"notebook 09 failed in the browser: {state['errors']}")
    assert state["widget_errors"] == 0, "a widget shows 'Error displaying widget'"

    first = _viewer(lab)
    viewer_el = lab.driver.find_element(By.CSS_SELECTOR, ".widget-dropdown select").find_element(
        By.XPATH, "ancestor::div[contains(@class, 'widget-vbox')][1]")
    lab.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", viewer_el)
    time.sleep(0.5)
    lab.shot("09_viewer", viewer_el)
    lab.shot("09_notebook")
    assert first["options"] >= 2 and first["selected"] == 0
    assert first["img"].startswith("data:image/png") and first["img_width"] > 200, "the viewer shows a figure"
    assert first["readout"] == "0" and first["readout_shown"], "the slider's number is shown"
    assert _inside(first["readout_rect"], first["left_rect"]), f"slider number outside its column: {_brief(first)}"
    assert _inside(first["left_rect"], first["box_rect"]), f"left column outside the viewer: {_brief(first)}"
    assert first["left_overflow"] <= 1 and first["box_overflow"] <= 1, f"a horizontal scrollbar: {_brief(first)}"

    Select(lab.driver.find_element(By.CSS_SELECTOR, ".widget-dropdown select")).select_by_index(1)
    second = _wait("the figure to change with the utterance",
                   lambda: (lambda s: s if s["img"] != first["img"] and s["selected"] == 1 else None)(_viewer(lab)),
                   timeout=60)
    handle = lab.driver.find_element(By.CSS_SELECTOR, ".widget-slider .noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    third = _wait("the figure to change with the slider",
                  lambda: (lambda s: s if s["img"] != second["img"] and s["readout"] == "1" else None)(_viewer(lab)),
                  timeout=60)
    assert third["readout_shown"] and _inside(third["readout_rect"], third["left_rect"])
    lab.shot("09_viewer_after_controls", viewer_el)

    # saved and reopened without a kernel, the viewer is drawn from the saved widget state
    saved = lab.js_async(
        "const w = window.jupyterapp.shell.currentWidget; await w.context.save();"
        "await w.sessionContext.shutdown(); w.dispose(); return w.context.path;")
    assert saved == VIEWER_NB, saved
    nb = json.loads((lab.notebooks / VIEWER_NB).read_text())
    assert "application/vnd.jupyter.widget-state+json" in nb["metadata"].get("widgets", {}), "widget state saved"
    lab.driver.get(f"{lab.url}/lab/tree/{VIEWER_NB}?token={lab.token}")
    reopened = _viewer(lab)
    assert reopened["img"].startswith("data:image/png")
    assert "Error displaying widget" not in lab.driver.find_element(By.TAG_NAME, "body").text
    lab.js("document.querySelector('.widget-dropdown select').scrollIntoView({block: 'start'});")
    time.sleep(0.5)
    lab.shot("09_reopened")


def test_equations_notebook_renders_its_latex(lab: Lab) -> None:
    lab.open(EQUATIONS_NB)
    count = _wait("MathJax to typeset the equations",
                  lambda: lab.js("return document.querySelectorAll('.jp-MarkdownOutput mjx-container').length;"),
                  timeout=60)
    lab.js("document.querySelector('.jp-MarkdownOutput mjx-container').closest('.jp-Cell')"
           ".scrollIntoView({block: 'start'});")
    time.sleep(1.0)  # MathJax typesets the cells that came into view
    lab.shot("03_equations")
    assert count >= 5, f"only {count} typeset formulas"
    assert lab.js("return document.querySelectorAll('mjx-merror').length;") == 0, "MathJax reported a TeX error"
