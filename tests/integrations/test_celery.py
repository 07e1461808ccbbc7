"""Celery: the signals with a real worker (in-memory broker, solo and threads pools)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import pytest
from celery import Celery, signals
from celery.contrib.testing.worker import start_worker
from celery.worker import state

import amplitude_legacy as Amplitude
from amplitude_legacy import NodeClient
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations.celery import _TASKS, AmplitudeCelery
from amplitude_legacy.testing import Collector
from tests.integrations.conftest import API_KEY

_apps = itertools.count()


def new_app() -> Celery:
    """A fresh app on the in-memory broker (its own name: Celery keeps task names global)."""
    app = Celery(f"amplitude_tests_{next(_apps)}", broker="memory://", backend="cache+memory://")
    app.conf.worker_hijack_root_logger = False
    app.conf.broker_transport_options = {"polling_interval": 0.01}

    @app.task(name=f"{app.main}.wake")
    def wake() -> None:
        """Wakes the worker's consumer loop (it polls the in-memory broker)."""

    return app


def celery_app(amplitude: AmplitudeCelery) -> Celery:
    """An app with a task that logs an event and one that fails."""
    app = new_app()

    @app.task(name=f"{app.main}.charge")
    def charge(user_id: str) -> Dict[str, Any]:
        amplitude.client.logEvent({"event_type": "Charged", "user_id": user_id})
        return dict(Amplitude.current_context())

    @app.task(name=f"{app.main}.fail")
    def fail() -> None:
        amplitude.client.logEvent({"event_type": "Failing", "user_id": "user-12345"})
        raise RuntimeError("the task failed")

    return app


@contextmanager
def warm_worker(app: Celery, **kwargs: Any) -> Iterator[Any]:
    """A real worker in a thread that ends with a warm shutdown, as on SIGTERM.

    ``start_worker`` alone ends with a cold shutdown, which Celery does not announce with
    ``worker_shutdown``; a worker told to stop by SIGTERM shuts down warm and does.
    """
    stopped = threading.Event()

    def mark(**_: Any) -> None:
        stopped.set()

    signals.worker_shutdown.connect(mark, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, **kwargs) as worker:
            yield worker
            state.should_stop = 0  # what Celery's SIGTERM handler sets
            deadline = time.monotonic() + 15
            while not stopped.wait(0.05):  # a message ends the loop's 2 s wait for the broker
                assert time.monotonic() < deadline, "the worker did not shut down"
                app.tasks[f"{app.main}.wake"].delay()
    finally:
        state.should_stop = None
        signals.worker_shutdown.disconnect(mark)


@pytest.fixture
def amplitude(options: Dict[str, Any]) -> Iterator[AmplitudeCelery]:
    """The integration, connected, with a client that copies the context into properties."""

    def build() -> NodeClient:
        client = Amplitude.create_instance(API_KEY, {**options, "uploadIntervalInSec": 60})
        return client.addEventMiddleware(context_properties())

    integration = AmplitudeCelery(client=build).connect()
    yield integration
    integration.disconnect()
    integration.client.shutdown(2)


@pytest.mark.parametrize(("pool", "concurrency"), [("solo", 1), ("threads", 4)])
def test_tasks_carry_their_context_and_shutdown_delivers(
    amplitude: AmplitudeCelery, collector: Collector, pool: str, concurrency: int
) -> None:
    """Events logged in tasks carry task_name/task_id; the worker's shutdown sends them."""
    app = celery_app(amplitude)
    charge = app.tasks[f"{app.main}.charge"]
    with warm_worker(app, pool=pool, concurrency=concurrency):
        results = [charge.delay(f"user-{n:05d}") for n in range(8)]
        contexts = [r.get(timeout=10, interval=0.01) for r in results]
        assert collector.events == []  # queued: the upload interval is 60 s
    # The worker has stopped: worker_shutdown flushed before start_worker returned.
    assert len(collector.events) == 8
    assert contexts == [{"task_name": charge.name, "task_id": r.id} for r in results]
    sent = {e["user_id"]: e["event_properties"] for e in collector.events}
    for n, result in enumerate(results):
        assert sent[f"user-{n:05d}"] == {"task_name": charge.name, "task_id": result.id}
    assert amplitude.errors == 0 and _TASKS.running == {}


def test_a_failing_task_leaves_its_context(
    amplitude: AmplitudeCelery, collector: Collector
) -> None:
    """task_postrun leaves the context even when the task raised; the next task is clean."""
    app = celery_app(amplitude)
    with warm_worker(app, pool="solo"):
        failed = app.tasks[f"{app.main}.fail"].delay()
        with pytest.raises(RuntimeError):
            failed.get(timeout=10, interval=0.01)
        charge = app.tasks[f"{app.main}.charge"]
        ok = charge.delay("user-00001")
        assert ok.get(timeout=10, interval=0.01) == {"task_name": charge.name, "task_id": ok.id}
    assert _TASKS.running == {}
    failing = [e for e in collector.events if e["event_type"] == "Failing"]
    assert failing[0]["event_properties"]["task_id"] == failed.id


def test_failures_are_counted_never_raised(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A client factory that raises: tasks still run, the failure is logged and counted."""

    def broken() -> NodeClient:
        raise RuntimeError("no client today")

    integration = AmplitudeCelery(client=broken).connect()
    app = new_app()

    @app.task(name=f"{app.main}.plain")
    def plain() -> int:
        return 42

    try:
        with caplog.at_level(logging.WARNING, logger="amplitude_legacy"), warm_worker(app):
            assert plain.delay().get(timeout=10, interval=0.01) == 42
        assert integration.errors >= 1  # worker_process_init could not build the client
        assert any("Celery integration failed" in r.getMessage() for r in caplog.records)
    finally:
        integration.disconnect()


def test_connect_is_idempotent_and_disconnect_removes_the_handlers(
    collector: Collector,
) -> None:
    """connect() twice connects once; after disconnect() tasks get no context."""
    integration = AmplitudeCelery(API_KEY, {"serverUrl": collector.http_api_url})
    users = _TASKS.users
    before = len(signals.worker_process_init.receivers)
    integration.connect().connect()
    assert len(signals.worker_process_init.receivers) == before + 1
    assert _TASKS.users == users + 1
    integration.disconnect()
    integration.disconnect()
    assert len(signals.worker_process_init.receivers) == before
    assert _TASKS.users == users
    integration.client.shutdown(1)


def test_two_integrations_share_one_task_context(collector: Collector) -> None:
    """Two connected integrations: one context per task, left cleanly after it."""
    first = AmplitudeCelery(API_KEY, {"serverUrl": collector.http_api_url}).connect()
    second = AmplitudeCelery(API_KEY, {"serverUrl": collector.http_api_url}).connect()
    app = new_app()
    app.conf.task_always_eager = True

    @app.task(name=f"{app.main}.context")
    def context() -> Dict[str, Any]:
        return dict(Amplitude.current_context())

    try:
        result = context.delay()
        assert result.get() == {"task_name": context.name, "task_id": result.id}
        assert dict(Amplitude.current_context()) == {}  # nothing left behind
    finally:
        for integration in (first, second):
            integration.disconnect()
            integration.client.shutdown(1)


def test_bad_arguments_are_value_errors() -> None:
    """Neither or both of api_key and client: ValueError."""
    with pytest.raises(ValueError, match="exactly one"):
        AmplitudeCelery()
    with pytest.raises(ValueError, match="options go with an API key"):
        AmplitudeCelery(client=lambda: None, options={"debug": True})  # type: ignore[arg-type,return-value]
