"""The plugin contract (``PluginType``, ``Plugin``), ``Result`` and the convenience base classes.

The contract is the one of ``@amplitude/analytics-node``, made
synchronous for Python: a plugin has a ``name``, a ``type`` (``before``, ``enrichment`` or
``destination``), an optional ``setup(config, client)``, an ``execute(event)`` that returns the
event (or ``None`` to drop it), and optional ``flush()`` and ``teardown()``.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Generator, Protocol, Union, runtime_checkable

from amplitude_legacy._event import Event

if TYPE_CHECKING:
    import asyncio

    from amplitude_legacy._response import Response

__all__ = [
    "BeforePlugin",
    "DestinationPlugin",
    "EnrichmentPlugin",
    "Plugin",
    "PluginType",
    "Result",
    "ResultFuture",
]


class PluginType(str, Enum):
    """Where a plugin runs in the pipeline: ``before`` → ``enrichment`` → ``destination``.

    A ``str`` enum, so ``PluginType.BEFORE == "before"`` holds and plain strings work wherever a
    ``PluginType`` is expected.

    Examples:
        >>> PluginType("enrichment") is PluginType.ENRICHMENT
        True
    """

    BEFORE = "before"
    ENRICHMENT = "enrichment"
    DESTINATION = "destination"

    def __str__(self) -> str:
        return self.value


PluginTypeLike = Union[PluginType, str]


@runtime_checkable
class Plugin(Protocol):
    """What ``client.add`` accepts (structural: any object with these members).

    Required: ``name`` (unique per client; ``remove(name)`` uses it) and ``execute(event)``
    (optional for ``before``/``enrichment`` plugins, which are then skipped). Optional:
    ``type`` (default ``"enrichment"``), ``setup(config, client)``, ``flush()``, ``teardown()``.

    ``execute`` runs synchronously on the thread that logged the event. ``before`` and
    ``enrichment`` plugins return the event (the same ``Event`` changed in place, or a new
    mapping) or ``None`` to drop it; a ``destination``'s return value is ignored.

    Examples:
        >>> class Stamp:
        ...     name = "stamp"
        ...     type = "enrichment"
        ...     def execute(self, event):
        ...         event.app_version = "2.0.0"
        ...         return event
        >>> isinstance(Stamp(), Plugin)
        True
    """

    name: str

    def execute(self, event: Event) -> Any:
        """Process one event; see the class docstring for the return value."""


@dataclass(frozen=True)
class Result:
    """The outcome of a new-style call (``track``, ``identify``, ``revenue``, ...).

    The shape of the plugin API's ``Result``: ``{event, code, message}``.

    Attributes:
        event: the event as ``track`` built it (``event_options`` merged in) and handed to the
            pipeline; fields that plugins and middleware set afterwards are not in it.
        code: the HTTP status Amplitude answered (``200`` when delivered), or ``0`` when the
            event never reached the server (opted out, dropped by a plugin, invalid).
        message: ``"Event tracked successfully"`` when delivered, else why not.
        response: the legacy ``Response`` the same event resolved with (status, reason, body).

    Examples:
        >>> result = client.track("Signed Up", None, {"user_id": "user-123"}).result(10)
        >>> result.code, result.message
        (200, 'Event tracked successfully')
    """

    event: Event
    code: int
    message: str
    response: Response | None = field(default=None, compare=False, repr=False)

    @property
    def delivered(self) -> bool:
        """True when Amplitude accepted the event (``200 <= code < 300``)."""
        return 200 <= self.code < 300


class ResultFuture(Future[Result]):
    """A ``concurrent.futures.Future`` of a ``Result`` that never raises; also awaitable.

    Examples:
        >>> future = client.track("Signed Up", None, {"user_id": "user-123"})
        >>> future.result(10).code
        200
    """

    def wait_async(self) -> asyncio.Future[Result]:
        """An ``asyncio.Future`` for this result, bound to the running loop."""
        import asyncio

        return asyncio.wrap_future(self)

    def __await__(self) -> Generator[Any, None, Result]:
        return self.wait_async().__await__()


class _BasePlugin:
    """Shared members of the convenience base classes."""

    type: PluginType = PluginType.ENRICHMENT
    name: str = ""

    def __init__(self, name: str | None = None) -> None:
        """Name the plugin (default: the class name).

        Args:
            name: the plugin's unique name on a client.
        """
        self.name = name or self.name or type(self).__name__
        self.config: Any = None
        self.client: Any = None

    def setup(self, config: Any, client: Any) -> None:
        """Called once by ``client.add``: keeps ``config`` and ``client`` on the plugin.

        Args:
            config: the client's ``Options``.
            client: the client the plugin was added to.
        """
        self.config = config
        self.client = client

    def flush(self) -> None:
        """Called by ``client.flush()``; nothing by default."""

    def teardown(self) -> None:
        """Called by ``client.remove(name)`` and ``client.shutdown()``; nothing by default."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} type={self.type.value!r}>"


class BeforePlugin(_BasePlugin):
    """Base class for a ``before`` plugin: runs first, before enrichment and middleware.

    Override ``execute``; return the event, or ``None`` to drop it.

    Examples:
        >>> class DropBots(BeforePlugin):
        ...     def execute(self, event):
        ...         return None if (event.user_id or "").startswith("bot-") else event
        >>> client.add(DropBots())  # doctest: +ELLIPSIS
        <...>
    """

    type = PluginType.BEFORE

    def execute(self, event: Event) -> Event | None:
        """Return the event unchanged (override me).

        Args:
            event: the annotated event (``time``, ``insert_id``, ``library`` are set).

        Returns:
            The event to pass on, or ``None`` to drop it.
        """
        return event


class EnrichmentPlugin(_BasePlugin):
    """Base class for an ``enrichment`` plugin: runs with legacy middleware, in added order.

    Override ``execute``; return the event, or ``None`` to drop it.

    Examples:
        >>> class AddEnv(EnrichmentPlugin):
        ...     def execute(self, event):
        ...         event.event_properties = {**(event.event_properties or {}), "env": "prod"}
        ...         return event
        >>> client.add(AddEnv())  # doctest: +ELLIPSIS
        <...>
    """

    type = PluginType.ENRICHMENT

    def execute(self, event: Event) -> Event | None:
        """Return the event unchanged (override me).

        Args:
            event: the event after ``before`` plugins and earlier middleware.

        Returns:
            The event to pass on, or ``None`` to drop it.
        """
        return event


class DestinationPlugin(_BasePlugin):
    """Base class for a ``destination`` plugin: gets a copy of every event that will be sent.

    The built-in Amplitude upload is the first destination; ``execute`` is called on the
    logging thread right after the event is queued for it, so keep it fast (hand the event to
    your own queue and send from ``flush``). Its return value is ignored; an exception is logged
    and counted and never affects the upload or other destinations.

    Examples:
        >>> class Mirror(DestinationPlugin):
        ...     def __init__(self):
        ...         super().__init__("mirror")
        ...         self.seen = []
        ...     def execute(self, event):
        ...         self.seen.append(event)
        >>> client.add(Mirror())  # doctest: +ELLIPSIS
        <...>
    """

    type = PluginType.DESTINATION

    def execute(self, event: Event) -> Any:
        """Send ``event`` somewhere (override me).

        Args:
            event: a shallow copy of the final event (nested dicts are shared: do not change
                them).

        Raises:
            NotImplementedError: always, until overridden.
        """
        raise NotImplementedError(f"{type(self).__name__}.execute must be overridden")
