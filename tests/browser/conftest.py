"""One headless Chromium for the whole session, and a debugger page per test."""

from __future__ import annotations

from typing import Iterator, Tuple

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from amplitude_legacy.testing import Collector

from ._chrome import missing, start_chrome

Page = Tuple[Collector, WebDriver]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium, started once (about 2 s) and quit after the session."""
    problem = missing()
    if problem is not None:
        pytest.fail(problem)
    driver = start_chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> Iterator[Page]:
    """A started ``Collector(ui=True)`` and the browser showing its debugger, stream connected."""
    with Collector(ui=True) as collector:
        browser.get(collector.ui_url)
        WebDriverWait(browser, 10).until(
            lambda d: d.find_element("tag name", "body").get_attribute("data-connected") == "true"
        )
        yield collector, browser
        browser.get("about:blank")  # close the stream before the collector stops
