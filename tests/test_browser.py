"""The app in a real browser: start ``streamlit run app.py``, load it in headless Chromium, wait
for the charts to draw, take a screenshot, and check what rendered.

Skipped (with the reason) only where no Chromium/chromedriver or no selenium is installed;
``.ci/run`` installs them. ``PLANNER_APP_SCREENSHOT=docs/app.png`` saves the screenshot there.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), shutil.which("google-chrome"),
                             "/usr/bin/chromium") if p and Path(p).exists()), None)
DRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
               if p and Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # the server answers its health endpoint once it is ready
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no headless Chromium: install the Debian packages chromium and chromium-driver (.ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,2200",
              "--hide-scrollbars"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


def test_app_renders_charts_in_chromium(app_url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    # each altair chart becomes a vega-embed view (an <svg> or <canvas> inside .vega-embed)
    def charts_drawn(d):
        views = d.find_elements(By.CSS_SELECTOR, ".vega-embed svg, .vega-embed canvas")
        return views if len(views) >= 5 else False

    views = WebDriverWait(browser, 120, poll_frequency=0.5).until(charts_drawn)
    WebDriverWait(browser, 60).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in text and "Error" not in text.split("planner — what if")[0]
    for phrase in ("time to train", "MFU", "memory per GPU", "simulated timeline", "sensitivity", "top alternatives"):
        assert phrase in text, phrase
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']"), "no metrics shown"
    # QA 44: no metric's label or value is cut with an ellipsis (six to a row read "MFU / HFU 71.4% / 6…")
    cut = browser.execute_script(
        "return [...document.querySelectorAll(\"[data-testid='stMetricValue'], [data-testid='stMetricLabel']\")]"
        ".filter(e => [e, ...e.querySelectorAll('*')].some(x => x.scrollWidth > x.clientWidth + 1)).map(e => e.innerText)")
    assert not cut, cut
    # the charts really drew marks: each view has a non-trivial size
    sizes = [(v.size["width"], v.size["height"]) for v in views]
    assert sum(1 for w, h in sizes if w > 200 and h > 50) >= 5, sizes
    time.sleep(1.0)  # let the last chart finish its transition before the picture
    shot = Path(os.environ.get("PLANNER_APP_SCREENSHOT") or tmp_path / "app.png")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few kB


def test_a_sidebar_change_in_the_browser_redraws_without_errors(app_url, browser):
    """qa2: a widget moved in the real page (the preset selectbox, typed and chosen as a user does)
    reruns the app: the model caption and the metrics follow, the charts draw again, and no
    exception box appears (AppTest covers every widget; this checks the browser round trip)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    metrics = lambda d: [m.text for m in d.find_elements(By.CSS_SELECTOR, "[data-testid='stMetric']")]  # noqa: E731
    WebDriverWait(browser, 120, poll_frequency=0.5).until(lambda d: len(metrics(d)) >= 6)
    before = metrics(browser)
    box = browser.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar'] [data-testid='stSelectbox'] input")
    box.click()
    box.send_keys("resnet50")
    box.send_keys(Keys.ENTER)
    WebDriverWait(browser, 120, poll_frequency=0.5).until(
        lambda d: "resnet50" in d.find_element(By.TAG_NAME, "body").text and len(metrics(d)) >= 6
        and metrics(d) != before and not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body and not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    views = browser.find_elements(By.CSS_SELECTOR, ".vega-embed svg, .vega-embed canvas")
    assert len(views) >= 5
    ttt = next(m for m in metrics(browser) if m.startswith("time to train"))
    assert ttt.endswith((" min", " h", " s")), ttt  # a ResNet-50 run is short: shown in its own unit
