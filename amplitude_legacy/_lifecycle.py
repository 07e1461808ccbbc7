"""Process-wide hooks for every live client: one atexit hook and one fork hook, ever.

A hook per client would pile up: ``os.register_at_fork`` callbacks cannot be removed, and a
program that creates and shuts down many clients (tests, short-lived workers) would carry all
of them (40,000 clients: fork from 3 ms to 39 ms). Instead, clients join ``_live`` (weakly, so
a forgotten client can still be garbage-collected) and leave it at shutdown; the two hooks
walk whoever is left.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import TYPE_CHECKING, List

if TYPE_CHECKING:
    from amplitude_legacy._client import NodeClient

__all__ = ["forget", "live_clients", "shutdown_in_background", "track"]

_live: weakref.WeakSet[NodeClient] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def track(client: NodeClient) -> None:
    """Include ``client`` in the exit flush and the fork reset (until ``forget``)."""
    global _installed
    with _lock:
        _live.add(client)
        if not _installed:
            _installed = True
            atexit.register(_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)


def forget(client: NodeClient) -> None:
    """``client`` was shut down: the hooks leave it alone."""
    with _lock:
        _live.discard(client)


def live_clients() -> List[NodeClient]:
    """The clients not shut down yet (in this process)."""
    with _lock:
        return list(_live)


def shutdown_in_background(client: NodeClient, timeout: float) -> None:
    """Shut ``client`` down on a daemon thread (``init`` replacing an instance must not block;
    the exit hook still bounds it if the process ends first)."""
    thread = threading.Thread(
        target=client.shutdown, args=(timeout,), name="amplitude_legacy-shutdown", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:  # no new threads (interpreter exiting): do it here
        client.shutdown(timeout)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a fork while another thread held it would leave it held
    for client in list(_live):
        client._reinit_after_fork()


def _at_exit() -> None:
    """Deliver what every live client still holds, each within its ``exitFlushTimeout``.

    The clients are shut down side by side when threads can still start (so the wait is the
    longest bound, not their sum); at Python 3.12+ interpreter exit they cannot, and it is one
    after another.
    """
    clients = live_clients()  # a child forked without fork hooks shuts down its own (late)
    if len(clients) == 1:  # the usual case: no thread needed
        clients[0]._shutdown_at_exit()
        return
    threads = []
    for client in clients:
        thread = threading.Thread(target=client._shutdown_at_exit, daemon=True)
        try:
            thread.start()
        except RuntimeError:
            client._shutdown_at_exit()
            continue
        threads.append((thread, client))
    for thread, client in threads:
        thread.join(client.getOptions().exit_flush_timeout + 2.0)  # + shutdown's own grace
