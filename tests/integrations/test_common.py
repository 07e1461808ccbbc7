"""The framework-free parts: context_properties, the guard, the per-process client, imports."""

from __future__ import annotations

import importlib
import inspect
import logging
import multiprocessing
import subprocess
import sys
import textwrap
from typing import Any, List

import pytest

import amplitude_legacy as Amplitude
from amplitude_legacy import Event, MiddlewarePayload, NodeClient
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations._common import Guard, ProcessClient
from amplitude_legacy.testing import Collector
from tests.conftest import run_without_sdk_fork_hooks
from tests.integrations.conftest import API_KEY

PUBLIC = {
    "amplitude_legacy.integrations": ["context_properties"],
    "amplitude_legacy.integrations.asgi": ["AmplitudeMiddleware", "scope_user_id"],
    "amplitude_legacy.integrations.celery": ["AmplitudeCelery"],
    "amplitude_legacy.integrations.django": [
        "SETTINGS_KEYS",
        "AmplitudeMiddleware",
        "anonymous",
        "django_user_id",
        "errors",
        "get_client",
    ],
    "amplitude_legacy.integrations.flask": [
        "CONFIG_DEFAULTS",
        "EXTENSION_KEY",
        "FlaskAmplitude",
        "flask_login_user_id",
    ],
}
FRAMEWORKS = ("django", "flask", "werkzeug", "starlette", "fastapi", "celery", "kombu", "asgiref")


def _through(middleware: Any, event: dict[str, Any], extra: Any) -> Any:
    """Run one middleware on an event; the event that reached ``next``, or None."""
    passed: List[Any] = []
    middleware(MiddlewarePayload(Event(event), extra), passed.append)
    return passed[0].event if passed else None


def test_context_properties_copies_the_chosen_keys() -> None:
    """Named keys are copied into event_properties; the event's own values win."""
    copy = context_properties("route", "request_id")
    event = _through(
        copy,
        {"event_type": "e", "user_id": "user-1", "event_properties": {"route": "mine"}},
        {"route": "/signup", "request_id": "req-1", "secret": "x"},
    )
    assert event["event_properties"] == {"route": "mine", "request_id": "req-1"}


def test_context_properties_without_keys_copies_everything_and_passes_on() -> None:
    """No keys: every context value is copied; no extra at all: the event passes unchanged."""
    copy = context_properties()
    event = _through(copy, {"event_type": "e", "user_id": "user-1"}, {"a": 1, "b": 2})
    assert event["event_properties"] == {"a": 1, "b": 2}
    plain = _through(copy, {"event_type": "e", "user_id": "user-1"}, None)
    assert "event_properties" not in plain


def test_context_properties_rejects_a_key_that_is_not_a_string() -> None:
    """A non-string key is a TypeError naming it."""
    with pytest.raises(TypeError, match="keys must be strings, got 3"):
        context_properties("route", 3)  # type: ignore[arg-type]


def test_context_properties_on_a_client_inside_a_context(collector: Collector) -> None:
    """With Amplitude.context and the middleware, the context reaches the collector."""
    client = Amplitude.create_instance(API_KEY, server_url=collector.http_api_url)
    client.addEventMiddleware(context_properties("route"))
    with Amplitude.context(route="/home", request_id="req-9"):
        client.logEvent({"event_type": "Viewed", "user_id": "user-12345"})
    client.logEvent({"event_type": "Outside", "user_id": "user-12345"})
    client.flush(5)
    client.shutdown(1)
    inside, outside = collector.events
    assert inside["event_properties"] == {"route": "/home"}
    assert "event_properties" not in outside


def test_guard_enters_and_leaves_a_context_as_the_with_block_does() -> None:
    """``Guard.enter`` nests over an outer context, copies the values, and ``leave`` restores."""
    guard = Guard("test")
    values = {"route": "/inner"}
    with Amplitude.context(route="/outer", request_id="r-1"):
        token = guard.enter(values)
        values["route"] = "/changed later"  # the context holds its own copy
        assert dict(Amplitude.current_context()) == {"route": "/inner", "request_id": "r-1"}
        guard.leave(token)
        assert dict(Amplitude.current_context()) == {"route": "/outer", "request_id": "r-1"}
    assert dict(Amplitude.current_context()) == {}
    guard.leave(None)  # a failed enter: nothing to leave
    assert guard.errors == 0


def test_failures_are_counted_and_logged_at_powers_of_two(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every failure counts; the 1st, 2nd, 4th and 8th are logged with their traceback."""
    integration = Guard("Test")
    with caplog.at_level(logging.WARNING, logger="amplitude_legacy"):
        for _ in range(9):
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                integration.failed("do its job")
    assert integration.errors == 9
    logged = [
        r for r in caplog.records if "Test integration failed to do its job" in r.getMessage()
    ]
    assert [r.getMessage().split("(")[1].split(" ")[0] for r in logged] == ["1", "2", "4", "8"]
    assert all(r.exc_info for r in logged)


def test_process_client_builds_once_per_process(collector: Collector) -> None:
    """The same client in this process; a forked child builds its own on first use."""
    built: List[NodeClient] = []

    def build() -> NodeClient:
        client = Amplitude.create_instance(API_KEY, server_url=collector.http_api_url)
        built.append(client)
        return client

    holder = ProcessClient(build)
    assert not holder.built
    client = holder.get()
    assert holder.get() is client and holder.built and len(built) == 1

    def child(queue: Any) -> None:
        inherited = holder.built
        fresh = holder.get()
        fresh.logEvent({"event_type": "From Child", "user_id": "user-12345"})
        queue.put((inherited, fresh is not client, fresh.flush(5).pending))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    assert queue.get(timeout=30) == (False, True, 0)
    process.join(30)
    assert [e["event_type"] for e in collector.events] == ["From Child"]
    assert holder.close(1) is not None and not holder.built
    assert holder.close(1) is None


def test_process_client_survives_a_fork_without_python_hooks(collector: Collector) -> None:
    """A fork that runs none of the SDK's fork hooks (uWSGI without lazy-apps): the child
    builds its own client and sends."""
    done = run_without_sdk_fork_hooks(
        """
        import amplitude_legacy as Amplitude
        from amplitude_legacy.integrations._common import ProcessClient

        holder = ProcessClient(
            lambda: Amplitude.create_instance(sys.argv[1], server_url=sys.argv[2])
        )
        parent_client = holder.get()
        event = {"event_type": "Parent", "user_id": "user-00001"}
        assert parent_client.logEvent(event).result(5)
        assert "amplitude_legacy.integrations._common" in SKIPPED_HOOKS, SKIPPED_HOOKS
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through the pipe
            try:
                client = holder.get()
                client.logEvent({"event_type": "Child", "user_id": "user-00002"})
                result = client.flush(5)
                report = f"{client is not parent_client} {result.pending}"
                os.write(write_end, report.encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end) as report:
            print("child:", report.read())
        holder.close(1)
        """,
        API_KEY,
        collector.http_api_url,
    )
    assert done.returncode == 0 and "child: True 0" in done.stdout, done
    assert sorted(e["event_type"] for e in collector.events) == ["Child", "Parent"]


def test_process_client_sources_are_checked() -> None:
    """Neither or both, options with a client, a non-string key, a non-callable client."""
    for kwargs, message in [
        ({"client": None, "api_key": None}, "exactly one"),
        ({"client": lambda: None, "api_key": API_KEY}, "exactly one"),
        ({"client": lambda: None, "api_key": None, "options": {}}, "options go with an API key"),
        ({"client": None, "api_key": 42}, "must be a string, got int"),
        ({"client": 42, "api_key": None}, "a NodeClient or a function returning one"),
    ]:
        kwargs.setdefault("options", None)
        with pytest.raises(ValueError, match=message):
            ProcessClient.of(where="here", **kwargs)


@pytest.mark.parametrize(("module", "names"), sorted(PUBLIC.items()))
def test_public_names_are_locked_and_documented(module: str, names: List[str]) -> None:
    """Each integration module's __all__ is exactly these names, each with a docstring."""
    loaded = importlib.import_module(module)
    assert sorted(loaded.__all__) == sorted(names) and len(set(loaded.__all__)) == len(names)
    for name in names:
        obj = getattr(loaded, name)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            assert (obj.__doc__ or "").strip(), f"{module}.{name} has no docstring"


def test_importing_the_package_imports_no_framework() -> None:
    """`import amplitude_legacy` and `amplitude_legacy.integrations` pull in no framework."""
    script = textwrap.dedent(
        f"""
        import sys
        import amplitude_legacy, amplitude_legacy.integrations
        loaded = sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)
        assert not loaded, loaded
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_missing_framework_names_the_extra() -> None:
    """Without its framework, importing an integration says which extra to install."""
    script = textwrap.dedent(
        """
        import sys
        for framework in ("django", "flask", "celery"):
            sys.modules[framework] = None  # as if it were not installed
        for module in ("django", "flask", "celery"):
            try:
                __import__(f"amplitude_legacy.integrations.{module}")
            except ImportError as exc:
                print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.splitlines() == [
        f"amplitude_legacy.integrations.{module} needs {name}, which is not installed: "
        f'pip install "amplitude_legacy[{module}]"'
        for module, name in (("django", "Django"), ("flask", "Flask"), ("celery", "Celery"))
    ], done.stdout + done.stderr
