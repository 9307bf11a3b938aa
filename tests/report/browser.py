"""Headless Chromium for the report tests: open a file, wait for the page to draw, read console errors."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def chromium() -> tuple[str, str] | None:
    """Paths of the chromium binary and its driver, or None when either is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return (binary, driver) if binary and driver else None


@contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium()  # type: ignore[misc]
    profile = tempfile.mkdtemp(prefix="sft-select-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(drv, path: Path, timeout: float = 60) -> str:
    """Load the page and wait until every figure is drawn; returns body[data-ready] ('1' or 'error')."""
    from selenium.webdriver.support.ui import WebDriverWait

    if not Path(path).is_file():
        raise FileNotFoundError(path)
    drv.get(Path(path).resolve().as_uri())
    WebDriverWait(drv, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready || ''"))
    return drv.execute_script("return document.body.dataset.ready")


def console_errors(drv) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]


def full_screenshot(drv, path: Path, max_height: int = 16000) -> None:
    """The whole page, not just the window: grow the window to the document's height first."""
    size = drv.get_window_size()
    height = min(max_height, int(drv.execute_script("return document.documentElement.scrollHeight")))
    drv.set_window_size(size["width"], height)
    drv.execute_script("window.dispatchEvent(new Event('resize'))")
    drv.save_screenshot(str(path))
    drv.set_window_size(size["width"], size["height"])
