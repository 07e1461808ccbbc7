"""The debugger page in headless Chromium: live events, refusals, filters, escaping, state."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, TypeVar

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector, Drop, Reply

from .conftest import Page

T = TypeVar("T")

ROWS_JS = """
return [...document.querySelectorAll('#rows tr.event, #rows tr.request')]
  .filter((row) => !row.hidden)
  .map((row) => ({type: row.dataset.type, user: row.dataset.user, state: row.dataset.state,
                  text: row.innerText}));
"""


def rows(driver: WebDriver) -> List[Dict[str, str]]:
    """The event and request rows the page shows (filters applied), newest first."""
    found: List[Dict[str, str]] = driver.execute_script(ROWS_JS)
    return found


def until(driver: WebDriver, condition: Callable[[WebDriver], T], timeout: float = 5.0) -> T:
    """Wait for ``condition(driver)`` to be truthy, with a deadline; return its value."""
    value: T = WebDriverWait(driver, timeout, poll_frequency=0.02).until(condition)
    return value


def rows_once(driver: WebDriver, n: int) -> List[Dict[str, str]]:
    """Wait until the page shows exactly ``n`` rows; return them."""
    found: List[Dict[str, str]] = []

    def exactly(d: WebDriver) -> bool:
        found[:] = rows(d)
        return len(found) == n

    until(driver, exactly)
    return found


def post(collector: Collector, body: Any) -> int:
    """POST a JSON body to the collector's HTTP V2 endpoint; return the status."""
    request = urllib.request.Request(
        collector.http_api_url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_an_event_from_a_node_client_shows_within_a_second(page: Page) -> None:
    """An event logged by a real NodeClient is on the page within a second of its delivery."""
    collector, driver = page
    client = NodeClient("KEY_0123456789", server_url=collector.http_api_url)
    try:
        client.logEvent({"event_type": "Signed Up", "user_id": "user-123"})
        assert client.flush(5).pending == 0
        collector.wait_for_events(1)
        delivered = time.monotonic()
        [row] = until(driver, rows, timeout=1.0)  # any row at all, within a second
        shown = time.monotonic() - delivered
    finally:
        client.shutdown(5)
    assert (row["type"], row["state"]) == ("Signed Up", "stored")
    assert "user-123" in row["text"] and "200" in row["text"]
    assert shown < 1.0


def test_a_refused_event_shows_its_error_and_field(page: Page) -> None:
    """A missing event_type and a too-short id are shown refused, with the offending cells."""
    collector, driver = page
    events = [{"user_id": "user-123"}, {"event_type": "Bought", "user_id": "abc"}]
    assert post(collector, {"api_key": "KEY", "events": events}) == 400
    shown = rows_once(driver, 2)
    assert [r["state"] for r in shown] == ["refused", "refused"]
    missing = driver.find_element(By.CSS_SELECTOR, "#rows tr.event td.field-event_type.bad")
    assert missing.text == "(missing)"
    assert missing.get_attribute("title") == "event_type: missing (required)"
    short = driver.find_element(By.CSS_SELECTOR, "#rows tr.event td.field-user_id.bad")
    assert short.text == "abc"
    assert short.get_attribute("title") == (
        "user_id: 3 characters long, shorter than the minimum of 5"
    )
    notes = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#rows td.note")]
    assert any("event_type: missing (required)" in note for note in notes)
    badge = driver.find_element(By.CSS_SELECTOR, "#rows tr.event td.status .badge.refused")
    assert badge.text == "400"
    # The refusal is counted by reason.
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#reasons li"))
    reason = driver.find_element(By.CSS_SELECTOR, "#reasons li")
    assert reason.get_attribute("data-reason") == "Request missing required field"


def test_a_malformed_request_shows_what_is_wrong(page: Page) -> None:
    """A body that is not JSON shows as one request row with the error and its detail."""
    collector, driver = page
    request = urllib.request.Request(
        collector.http_api_url, b"{oops", {"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)
    [row] = until(driver, rows)
    assert row["state"] == "request"
    assert "Invalid JSON request body" in row["text"]
    assert "Expecting property name enclosed in double quotes" in row["text"]


def test_filters_narrow_the_list(page: Page) -> None:
    """The event type, user and status filters each narrow the rows shown."""
    collector, driver = page
    events = [
        {"event_type": "Signed Up", "user_id": "user-aaa", "insert_id": "i1"},
        {"event_type": "Page Viewed", "user_id": "user-bbb", "insert_id": "i2"},
        {"event_type": "Page Viewed", "user_id": "user-aaa", "insert_id": "i3"},
    ]
    assert post(collector, {"api_key": "KEY", "events": events}) == 200
    assert post(collector, {"api_key": "KEY", "events": [{"event_type": "Signed Up"}]}) == 400
    rows_once(driver, 4)

    type_filter = driver.find_element(By.ID, "filter-type")
    type_filter.send_keys("signed")
    shown = rows_once(driver, 2)
    assert {r["type"] for r in shown} == {"Signed Up"}

    Select(driver.find_element(By.ID, "filter-status")).select_by_value("refused")
    [refused] = rows_once(driver, 1)
    assert refused["state"] == "refused"

    type_filter.clear()
    Select(driver.find_element(By.ID, "filter-status")).select_by_value("")
    driver.find_element(By.ID, "filter-user").send_keys("user-aaa")
    shown = rows_once(driver, 2)
    assert {r["type"] for r in shown} == {"Signed Up", "Page Viewed"}
    assert all("user-aaa" in r["user"] for r in shown)
    assert driver.find_element(By.ID, "shown").text == "2 of 4 rows"


def test_markup_in_an_event_is_shown_as_text(page: Page) -> None:
    """<script> and <img onerror> in event values are text: nothing runs, nothing is injected."""
    collector, driver = page
    script = "<script>window.__injected = 1; alert(1)</script>"
    image = '<img id="injected" src="x" onerror="window.__injected = 2; alert(2)">'
    event = {"event_type": script, "user_id": image, "event_properties": {"html": script}}
    assert post(collector, {"api_key": "KEY", "events": [event]}) == 200
    until(driver, rows)
    cell = driver.find_element(By.CSS_SELECTOR, "#rows tr.event td.field-event_type")
    assert cell.text == script
    assert driver.find_element(By.CSS_SELECTOR, "#rows tr.event td.field-user_id").text == image
    cell.click()  # open the event's JSON
    shown = until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#rows pre.json").text)
    assert json.loads(shown)["event_properties"] == {"html": script}
    with pytest.raises(NoAlertPresentException):
        _ = driver.switch_to.alert.text
    assert driver.execute_script("return window.__injected === undefined")
    assert driver.execute_script("return document.scripts.length") == 1  # the page's own
    assert driver.find_elements(By.ID, "injected") == []
    assert driver.find_elements(By.CSS_SELECTOR, "#rows img, #rows script") == []


def test_the_page_shows_the_script_and_absorbed_duplicates(page: Page) -> None:
    """The pending fault script, absorbed duplicates and refusals by reason are kept current."""
    collector, driver = page
    collector.script(Reply(503), Drop(delay=0.5))
    steps = until(
        driver,
        lambda d: [li.text for li in d.find_elements(By.CSS_SELECTOR, "#script li")] or None,
    )
    assert steps == [
        "answer 503 with the standard body",
        "close the connection without an answer after 0.5 s",
    ]
    event = {"event_type": "Paid", "user_id": "user-123", "insert_id": "once"}
    assert post(collector, {"api_key": "KEY", "events": [event]}) == 503
    collector.script()  # nothing: the Drop step stays queued
    until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#script li")) == 1)
    collector.reset()
    until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#script li"))
    assert driver.find_element(By.ID, "script-empty").is_displayed()
    assert post(collector, {"api_key": "KEY", "events": [event, event]}) == 200
    until(driver, lambda d: d.find_element(By.ID, "count-absorbed").text == "1")
    states = [r["state"] for r in rows_once(driver, 3)]
    assert states == ["stored", "absorbed", "not stored"]
