"""Celery: a client per worker process, the task as context, a flush when workers stop.

::

    from celery import Celery
    from amplitude_legacy.integrations.celery import AmplitudeCelery

    app = Celery("tasks")
    amplitude = AmplitudeCelery(api_key=os.environ["AMPLITUDE_API_KEY"]).connect()

    @app.task
    def charge(user_id):
        amplitude.client.logEvent({"event_type": "Charged", "user_id": user_id})

``connect()`` hooks Celery's signals:

* ``worker_process_init``: each pool process (prefork) builds its own client after the fork.
* ``task_prerun``/``task_postrun``: while a task runs, every ``logEvent``/``identify`` gets
  ``task_name`` and ``task_id`` in ``extra``.
* ``worker_process_shutdown`` (pool processes) and ``worker_shutdown`` (the main process,
  and the solo and threads pools): shut the client down, sending what is queued within
  ``shutdown_timeout`` seconds.

Nothing it does can raise into a task: failures are logged and counted
(``AmplitudeCelery.errors``). Needs ``pip install "amplitude_legacy[celery]"``.
"""

from __future__ import annotations

import threading
from contextvars import Token
from typing import Any, Dict, List, Tuple

from amplitude_legacy._client import NodeClient, OptionsArg
from amplitude_legacy.integrations._common import (
    ClientSource,
    Guard,
    ProcessClient,
    missing_framework,
)

try:
    from celery import signals  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Celery
    raise missing_framework("celery", "Celery", "celery") from exc

__all__ = ["AmplitudeCelery"]


class _TaskContext:
    """The running task's context, entered once per task however many integrations exist.

    Celery calls the receivers of ``task_prerun`` and of ``task_postrun`` in the same order,
    so two integrations each entering a context would leave them in the wrong order (and leak
    the outer one). The context holds the task only, so one shared pair of handlers suffices.
    """

    def __init__(self) -> None:
        self.guard = Guard("Celery")
        self.running: Dict[str, Token[Any] | None] = {}
        self.users = 0
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            self.users += 1
            if self.users == 1:
                signals.task_prerun.connect(self.prerun, weak=False, dispatch_uid=_PRERUN)
                signals.task_postrun.connect(self.postrun, weak=False, dispatch_uid=_POSTRUN)

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0:
                signals.task_prerun.disconnect(self.prerun, dispatch_uid=_PRERUN)
                signals.task_postrun.disconnect(self.postrun, dispatch_uid=_POSTRUN)

    def prerun(self, task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task_id is not None:
            values = {"task_name": getattr(task, "name", None), "task_id": task_id}
            self.running[task_id] = self.guard.enter(values)

    def postrun(self, task_id: str | None = None, **_: Any) -> None:
        if task_id is not None:
            self.guard.leave(self.running.pop(task_id, None))


_PRERUN = "amplitude_legacy.integrations.celery:task_prerun"
_POSTRUN = "amplitude_legacy.integrations.celery:task_postrun"
_TASKS = _TaskContext()


class AmplitudeCelery:
    """Connects a per-process Amplitude client to Celery's worker and task signals.

    Args:
        api_key: build a client with ``Amplitude.create_instance(api_key, options)`` in each
            worker process (``AmplitudeCelery.client``).
        options: options of that client.
        client: instead of ``api_key``: a function that makes the client (called once in
            each worker process, e.g. Django's ``get_client``), or a ready client (each pool
            process then uses its inherited copy, which the fork left empty).
        shutdown_timeout: seconds the shutdown signals may spend sending what is queued.

    Raises:
        ValueError: neither or both of ``api_key`` and ``client``.

    Examples:
        >>> amplitude = AmplitudeCelery(api_key="API_KEY").connect()
        >>> amplitude.disconnect()
    """

    def __init__(
        self,
        api_key: str | None = None,
        options: OptionsArg = None,
        *,
        client: ClientSource | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._clients = ProcessClient.of(client, api_key, options, "AmplitudeCelery")
        self._guard = Guard("Celery")
        self.shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._connected: List[Tuple[Any, Any, str]] = []

    @property
    def client(self) -> NodeClient:
        """This process's client (built on first use in each process)."""
        return self._clients.get()

    @property
    def errors(self) -> int:
        """Failures caught (logged, never raised into a task) in this process.

        Building or shutting down this client, plus entering or leaving a task's context
        (shared by every ``AmplitudeCelery`` of the process).
        """
        return self._guard.errors + _TASKS.guard.errors

    def connect(self) -> AmplitudeCelery:
        """Connect the signal handlers (idempotent).

        Returns:
            This object, so ``amplitude = AmplitudeCelery(...).connect()`` reads as one line.
        """
        with self._lock:
            if self._connected:
                return self
            for signal, handler in (
                (signals.worker_process_init, self._process_init),
                (signals.worker_process_shutdown, self._shutdown),
                (signals.worker_shutdown, self._shutdown),
            ):
                uid = f"amplitude_legacy:{id(self)}:{signal.name}"
                signal.connect(handler, weak=False, dispatch_uid=uid)
                self._connected.append((signal, handler, uid))
            _TASKS.acquire()
        return self

    def disconnect(self) -> None:
        """Disconnect the signal handlers (the client is left as it is)."""
        with self._lock:
            connected, self._connected = self._connected, []
            if connected:
                _TASKS.release()
        for signal, handler, uid in connected:
            signal.disconnect(handler, dispatch_uid=uid)

    def _process_init(self, **_: Any) -> None:
        try:
            self._clients.get()  # a fresh client in this (forked) pool process
        except Exception:
            self._guard.failed("build the client in a worker process")

    def _shutdown(self, **_: Any) -> None:
        try:
            self._clients.close(self.shutdown_timeout)
        except Exception:
            self._guard.failed("flush at worker shutdown")
