"""Start Debian's headless Chromium through its chromedriver (never a downloaded one)."""

from __future__ import annotations

import os
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1100",
)


def missing() -> str | None:
    """Say what is missing to run the browser tests, or ``None`` when all is there."""
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return (
        f"{' and '.join(absent)} not found: the debugger tests need Debian's chromium and"
        " chromium-driver packages; run .ci/system-packages (as root) to install them"
    )


def start_chrome(profile: Path) -> webdriver.Chrome:
    """Start headless Chromium with a fresh profile in ``profile``.

    The driver path is given, so Selenium Manager is skipped and nothing is downloaded.
    """
    options = Options()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(10)
    return driver
