"""Debian's headless Chromium driven by selenium through Debian's chromedriver (nothing is downloaded)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
DESKTOP = (1280, 800)
TABLET = (820, 1180)
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """One browser with a fresh profile, its console log kept (CSP violations land there)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "chromium and chromium-driver are not installed: `make test` installs them (SYSTEM_PACKAGES)"
        )
    profile = tempfile.mkdtemp(prefix="desk-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Console messages at SEVERE since the last call (a CSP violation is one)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: webdriver.Chrome, name: str, size: tuple[int, int] = DESKTOP) -> Path:
    """The whole page at ``size`` (the window's width; the full height of the page)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    width, height = size
    driver.set_window_size(width, height)
    page_height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, max(height, min(page_height + 120, 3000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(*DESKTOP)
    print(f"screenshot: {path}")
    return path


def wait_for(driver: webdriver.Chrome, css: str, timeout: float = 10) -> None:
    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def pictures_loaded(driver: webdriver.Chrome, timeout: float = 20) -> None:
    """Every <img> of the page has finished loading (or failed), so a screenshot shows what a person sees."""
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return [...document.images].every((image) => image.complete)")
    )
