"""``sparsevae explore`` in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver (``apt-get install chromium chromium-driver``; ``.ci/run`` installs them).

Each test loads the page, picks a test image, switches a code element off or moves its slider, and
checks that the decoded image changed and equals what ``model.decode`` gives in Python.  Skipped
with the reason when the browser is missing, except under CI, which must run them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sparsevae.cli.common import load_run, run_dataset
from sparsevae.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "runs-0.1.0"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1400",
)  # fmt: skip


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for module in ("flask", "selenium"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: pip install -e '.[test]'"
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver"
    return None


REASON = browser_missing()
if REASON is not None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {REASON}", pytrace=False)
    pytest.skip(REASON, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from sparsevae.explore import ExploreSession  # noqa: E402
from sparsevae.explore.app import create_app  # noqa: E402
from sparsevae.explore.server import make_explorer_server, url_of  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="sparsevae-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def train(out: Path, *flags: str) -> Path:
    common = ["--epochs", "1", "--batch-size", "64", "--no-progress", "--out", str(out)]
    assert main(["--threads", "1", "train", *flags, *common]) == 0
    return out


def image_file(path: Path, channels: int, size: int, n: int, seed: int) -> Path:
    """An npz of random images with labels: ``x_train``/``x_test`` (N, C, H, W) in [0, 255]."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", n), ("test", n // 2)):
        arrays[f"x_{split}"] = rng.integers(0, 256, (count, channels, size, size), dtype=np.uint8)
        arrays[f"y_{split}"] = rng.integers(0, 3, count)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explore-runs")
    grey = image_file(root / "grey28.npz", 1, 28, 64, 0)
    colour = image_file(root / "colour32.npz", 3, 32, 64, 1)
    small = ["--latent-dim", "8", "--hidden", "32"]
    conv = ["--arch", "conv", "--latent-dim", "8", "--dataset"]
    return {
        "vsc": train(root / "vsc", "--model", "vsc", *small, "--alpha", "0.3"),
        "vae": train(root / "vae", "--model", "vae", *small),
        "topk-ae": train(root / "topk", "--model", "topk-ae", *small, "--k", "3"),
        "conv-grey-28": train(root / "conv28", "--model", "vsc", *conv, f"npz:{grey}"),
        "conv-colour-32": train(root / "conv32", "--model", "vae", *conv, f"npz:{colour}"),
        "llgae": FIXTURES / "llgae",  # block-sparse codes: decode refuses some edits
    }


@contextmanager
def explorer(run_dir: Path) -> Iterator[tuple[str, ExploreSession]]:
    """The explorer of ``run_dir`` on a free loopback port, served from a thread."""
    model, config = load_run(str(run_dir), "cpu")
    data = run_dataset(config)
    session = ExploreSession(model, data.test_x, data.test_y, title=run_dir.name)
    server = make_explorer_server(create_app(session))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url_of(server), session
    finally:
        server.shutdown()
        server.server_close()


# -- driving the page --------------------------------------------------------------------------
def wait_for(browser, script: str, timeout: float = 30):
    return WebDriverWait(browser, timeout).until(lambda d: d.execute_script(script))


def open_page(browser, url: str) -> None:
    browser.get(url)
    wait_for(browser, "return document.body.dataset.ready === 'true'")


def decoded_state(browser) -> dict:
    """The decoded image's code and values once no decode is in flight."""
    wait_for(browser, "return !document.getElementById('decoded').dataset.pending")
    data = browser.execute_script(
        "return Object.assign({}, document.getElementById('decoded').dataset)"
    )
    return {"version": int(data["version"]), "code": json.loads(data["code"]),
            "values": json.loads(data["values"])}  # fmt: skip


def pick_test_image(browser, index: int) -> dict:
    browser.execute_script(f"document.querySelector('.thumb[data-index=\"{index}\"]').click()")
    wait_for(
        browser,
        f"return document.getElementById('input-caption').textContent.startsWith('test image {index}')",
    )
    return decoded_state(browser)


def after(browser, before: dict, action: str) -> dict:
    """Run ``action`` (JavaScript) on the page; the decoded state once the page has re-decoded."""
    browser.execute_script(action)
    wait_for(
        browser,
        f"return Number(document.getElementById('decoded').dataset.version) > {before['version']}",
    )
    return decoded_state(browser)


def python_decode(session: ExploreSession, code: list[float]) -> torch.Tensor:
    with torch.no_grad():
        return session.model.decode(torch.tensor([code], dtype=torch.float32))[0].flatten()


def check_switch_off(browser, url: str, session: ExploreSession, index: int = 3) -> None:
    """Pick test image ``index``, switch its strongest element off; the page's decoded image must
    change and equal Python's decode of the edited code."""
    open_page(browser, url)
    before = pick_test_image(browser, index)
    image, label = session.test_image(index)
    code = session.analyse(image, label).code
    torch.testing.assert_close(torch.tensor(before["code"]), code)
    j = int(code.abs().argmax())
    state = after(
        browser, before, f"document.querySelector('.element[data-element=\"{j}\"] .switch').click()"
    )
    edited = code.clone()
    edited[j] = 0
    assert state["code"] == edited.tolist()
    values = torch.tensor(state["values"])
    torch.testing.assert_close(values, python_decode(session, state["code"]), atol=1e-6, rtol=0)
    assert float((values - torch.tensor(before["values"])).abs().max()) > 1e-4  # it changed
    assert not browser.execute_script("return document.getElementById('status').className")


def test_vsc_switch_slider_upload_and_screenshot(browser, runs, tmp_path):
    with explorer(runs["vsc"]) as (url, session):
        check_switch_off(browser, url, session)
        before = decoded_state(browser)
        j = int(torch.tensor(before["code"]).abs().argmax())  # move the strongest slider left
        slider = f"document.querySelector('.element[data-element=\"{j}\"] .slider')"
        state = after(
            browser,
            before,
            f"const s = {slider}; s.value = s.min; s.dispatchEvent(new Event('input'))",
        )
        assert state["code"] != before["code"]
        torch.testing.assert_close(
            torch.tensor(state["values"]), python_decode(session, state["code"]), atol=1e-6, rtol=0
        )
        assert (
            browser.execute_script(
                "return document.querySelectorAll('#traverse-images img').length"
            )
            == 9
        )
        assert (
            browser.execute_script("return document.querySelectorAll('#sample-images img').length")
            == 16
        )
        assert (
            browser.execute_script("return document.getElementById('usage-figure').naturalWidth")
            > 0
        )
        shot = tmp_path / "explore.png"
        assert browser.save_screenshot(str(shot))
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
        assert pixels.shape[1] >= 1000 and pixels.std() > 20  # a drawn page, not a blank one
        drawing = tmp_path / "drawing.png"
        Image.fromarray(np.eye(40, dtype=np.uint8) * 255).save(drawing)
        browser.find_element("id", "upload").send_keys(str(drawing))
        wait_for(
            browser, "return document.getElementById('input-caption').textContent === 'your image'"
        )
        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe


@pytest.mark.parametrize("name", ["vae", "topk-ae", "conv-grey-28", "conv-colour-32"])
def test_switching_an_element_off(browser, runs, name):
    with explorer(runs[name]) as (url, session):
        check_switch_off(browser, url, session)


def test_llgae_code_in_two_blocks_is_reported_on_the_page(browser, runs):
    with explorer(runs["llgae"]) as (url, _):
        open_page(browser, url)
        before = pick_test_image(browser, 0)
        other = next(j for j, v in enumerate(before["code"]) if v == 0)  # in another block
        browser.execute_script(
            f"document.querySelector('#code-chart .hit[data-element=\"{other}\"]').dispatchEvent(new MouseEvent('click'))"
        )
        slider = f"document.querySelector('.element[data-element=\"{other}\"] .slider')"
        after(
            browser,
            before,
            f"const s = {slider}; s.value = s.max; s.dispatchEvent(new Event('input'))",
        )
        status = browser.execute_script("return document.getElementById('status').textContent")
        assert "exactly one block" in status
        assert browser.execute_script(
            "return document.getElementById('decoded').classList.contains('stale')"
        )


def test_the_readme_command_serves_until_ctrl_c(browser, runs):
    """`sparsevae explore RUN` as a user runs it: prints the URL, serves the page, stops on Ctrl-C."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    command = [
        sys.executable,
        "-m",
        "sparsevae.cli.main",
        "--threads",
        "1",
        "explore",
        str(runs["vsc"]),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as in a terminal, also where this test runs as a background job (SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = process.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line + process.stderr.read()
        open_page(browser, line.split("serving on ", 1)[1].split()[0])
        assert browser.execute_script("return document.querySelectorAll('.element').length") > 0
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out
