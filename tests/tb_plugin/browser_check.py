"""Start a real `tensorboard` on loopback and read the "Steps to target" tab in headless Chromium.

Reusable by any test that has a study folder (the lead's test over a real `tfbsz.run` study):

    from tb_plugin.browser_check import browser_check, browser_available
    snapshot = browser_check(logdir, "test-artifacts/dashboard.png")
    assert snapshot["chart_batch_sizes"]["my_study"] == [16, 64, 256]

Needs the Debian packages `chromium` and `chromium-driver`, `selenium`, and tfbsz installed
(`pip install -e .`) so TensorBoard finds the plugin's entry point. Every wait has a deadline and
the TensorBoard process group is always killed.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1360,1500",
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def browser_available():
    """(True, "") when Chromium, chromedriver and selenium are present, else (False, reason)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
            return False, f"{path} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False, "selenium is not installed (pip install selenium)"
    return True, ""


@contextlib.contextmanager
def tensorboard_server(logdir, start_timeout=120):
    """Runs `tensorboard --logdir LOGDIR --host 127.0.0.1 --port 0` and yields its base URL."""
    log = tempfile.NamedTemporaryFile("w+", prefix="tensorboard-", suffix=".log", delete=False)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cli = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    command = [cli] if os.path.exists(cli) else [sys.executable, "-m", "tensorboard.main"]
    proc = subprocess.Popen(
        command + ["--logdir", str(logdir), "--host", "127.0.0.1", "--port", "0", "--load_fast", "false",
                   "--reload_interval", "0", "--reload_task", "blocking"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        url = _wait_for_url(proc, log.name, start_timeout)
        yield url
    finally:
        _kill_group(proc)
        log.close()
        os.unlink(log.name)


def _wait_for_url(proc, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as f:
            text = f.read()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", text)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"tensorboard exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"tensorboard printed no URL within {timeout} s")


def _kill_group(proc):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def fetch_json(url, timeout=30):
    """GETs `url` and decodes its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def read_dashboard(base_url, screenshot_path, timeout=60):
    """Opens `<base_url>/#tfbsz` in headless Chromium and reads what the dashboard shows.

    Returns a dict: `status` (text), `runs` (study names in the chart legend order),
    `chart_batch_sizes` and `table_batch_sizes` ({run: sorted batch sizes}), `trial_rows` (rows of
    the per-trial table), `x_tick_labels`, `axis_labels` and `fit_cards` (their texts).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tfbsz-chromium-")
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(timeout)
        driver.set_script_timeout(timeout)
        driver.get(f"{base_url}/#tfbsz")
        wait = WebDriverWait(driver, timeout)
        frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
        driver.switch_to.frame(frame)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tfbsz-status[data-state='ready']"))
        snapshot = driver.execute_script(_READ_DOM_JS)
        driver.switch_to.default_content()
        os.makedirs(os.path.dirname(os.path.abspath(screenshot_path)), exist_ok=True)
        driver.save_screenshot(str(screenshot_path))
        return snapshot
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def browser_check(logdir, screenshot_path, timeout=60):
    """Starts TensorBoard over `logdir`, checks the plugin is enabled, and reads the dashboard.

    Returns `read_dashboard`'s dict plus `plugins_listing` (TensorBoard's entry for the plugin).
    """
    with tensorboard_server(logdir) as url:
        listing = fetch_json(f"{url}/data/plugins_listing").get("tfbsz")
        if not listing or not listing.get("enabled"):
            raise AssertionError(
                f"the tfbsz plugin is not enabled in TensorBoard (listing: {listing}); "
                "is tfbsz installed with `pip install -e .`?"
            )
        snapshot = read_dashboard(url, screenshot_path, timeout=timeout)
        snapshot["plugins_listing"] = listing
        return snapshot


_READ_DOM_JS = """
const byRun = (selector, attr) => {
  const out = {};
  for (const node of document.querySelectorAll(selector)) {
    const run = node.getAttribute(attr);
    (out[run] = out[run] || []).push(Number(node.getAttribute('data-batch-size') ?? node.getAttribute('data-x')));
  }
  for (const k of Object.keys(out)) out[k].sort((a, b) => a - b);
  return out;
};
return {
  status: document.getElementById('tfbsz-status').textContent,
  runs: [...document.querySelectorAll('.tfbsz-run-name')].map((n) => n.textContent),
  chart_batch_sizes: byRun('#tfbsz-steps-chart circle.tfbsz-point', 'data-series'),
  table_batch_sizes: byRun('#tfbsz-batch-table tbody tr', 'data-run'),
  trial_rows: document.querySelectorAll('#tfbsz-trial-table tbody tr').length,
  x_tick_labels: [...document.querySelectorAll('#tfbsz-steps-chart .tfbsz-xtick')].map((n) => n.textContent),
  axis_labels: [...document.querySelectorAll('#tfbsz-steps-chart .tfbsz-axis-label')].map((n) => n.textContent),
  fit_cards: [...document.querySelectorAll('.tfbsz-card')].map((n) => n.textContent),
  errors: [...document.querySelectorAll('.tfbsz-error')].map((n) => n.textContent),
};
"""
