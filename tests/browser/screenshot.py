"""Take the docs' debugger screenshot: ``python -m tests.browser.screenshot docs/img/debugger.png``.

It runs a collector with the debugger, sends a few seconds of traffic from a real client (with
a retry absorbed as a duplicate, a refused event and a rate-limited burst), queues a fault
script, and saves what headless Chromium shows.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import AcceptThenDrop, Collector, Delay, Drop, Reply

from ._chrome import missing, start_chrome

PAGES = ["/pricing", "/docs", "/signup", "/checkout"]


def post(collector: Collector, events: List[Dict[str, Any]]) -> None:
    """POST events as they are, refused or not."""
    data = json.dumps({"api_key": "KEY_0123456789abcdef", "events": events}).encode()
    request = urllib.request.Request(
        collector.http_api_url, data, {"Content-Type": "application/json"}
    )
    with contextlib.suppress(urllib.error.HTTPError):  # a refusal is what some of them want
        urllib.request.urlopen(request, timeout=5).read()


def main(out: Path) -> None:
    """Save the screenshot to ``out``."""
    problem = missing()
    if problem is not None:
        raise SystemExit(problem)
    with tempfile.TemporaryDirectory() as profile, Collector(ui=True, keep=1000) as collector:
        driver = start_chrome(Path(profile))
        try:
            driver.get(collector.ui_url)
            WebDriverWait(driver, 10).until(
                lambda d: (
                    d.find_element(By.TAG_NAME, "body").get_attribute("data-connected") == "true"
                )
            )
            client = NodeClient(
                "KEY_0123456789abcdef",
                server_url=collector.http_api_url,
                retry_timeouts=[50, 100],
            )
            for second in range(6):
                for n in range(4 + 3 * (second % 3)):
                    client.logEvent(
                        {
                            "event_type": "Page Viewed",
                            "user_id": f"user-{1000 + n % 5}",
                            "event_properties": {"path": PAGES[n % len(PAGES)]},
                        }
                    )
                client.flush(5)
                time.sleep(0.5)
            collector.script(AcceptThenDrop())  # the answer is lost: the retry is absorbed
            client.logEvent(
                {
                    "event_type": "Checkout Completed",
                    "user_id": "user-1002",
                    "event_properties": {"total": 42.5, "currency": "EUR"},
                }
            )
            client.flush(5)
            post(collector, [{"user_id": "user-1003", "event_properties": {"plan": "pro"}}])
            post(collector, [{"event_type": "Signed Up", "user_id": "u-7"}])
            collector.script(Reply(503), Drop(delay=1), Delay(2))
            client.shutdown(5)
            time.sleep(1.2)
            driver.find_element(By.CSS_SELECTOR, "#rows tr.event.state-refused").click()
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.3)
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/debugger.png"))
