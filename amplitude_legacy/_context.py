"""``context``: values that become the ``extra`` of every event logged inside a block.

Web frameworks and task queues know things about the current request or task (route, request
id, task name) that middleware wants, but the code that calls ``logEvent`` rarely has them at
hand. ``with context(route="/signup"):`` puts them in a ``contextvars.ContextVar``, so they
follow the code the way contextvars do: into functions called from the block, into asyncio
tasks created inside it, and into threads started with ``contextvars.copy_context().run``.
Outside any context the client reads one ``ContextVar`` per call and does nothing else.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any, Callable, Dict, List, Mapping, Type, TypeVar, cast

__all__ = ["context", "current_context", "enter_values", "leave_values", "merged_extra"]

F = TypeVar("F", bound=Callable[..., Any])

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# A plain dict, never changed once set (each context sets a new one): copying a dict is 4x
# cheaper than copying a MappingProxyType, and logEvent copies it for every event.
_VALUES: ContextVar[Dict[str, Any] | None] = ContextVar("amplitude_legacy_context", default=None)


class context:  # lower case, like contextlib's helpers: it reads as a phrase
    """Make ``values`` the ``extra`` of every event logged inside a block or a function.

    Every ``logEvent``/``identify``/``groupIdentify``/``track`` made inside gets
    ``extra = {**values, **explicit_extra}``: an explicit ``extra`` merges over the context
    (so it must be a dict there: any other type raises ``TypeError`` from the call).
    Contexts nest (inner keys win) and are restored on exit, exceptions included. Use it as a
    context manager, or as a decorator on a plain or ``async def`` function (each call gets its
    own context). One ``with`` at a time per object: create a new one per block, as below.

    Args:
        **values: anything your middleware reads from ``payload.extra``; never sent.

    Examples:
        >>> with Amplitude.context(route="/signup", request_id="r-1"):
        ...     client.logEvent({"event_type": "Signed Up", "user_id": "user-123"})
        >>> @Amplitude.context(job="nightly-export")
        ... def export():
        ...     client.logEvent({"event_type": "Export Ran", "user_id": "system"})
    """

    def __init__(self, **values: Any) -> None:
        self._values = values
        self._tokens: List[Token[Dict[str, Any] | None]] = []

    def __enter__(self) -> Mapping[str, Any]:
        merged = _nested(self._values)
        self._tokens.append(_VALUES.set(merged))
        return MappingProxyType(merged)

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        leave_values(self._tokens.pop())

    def __call__(self, function: F) -> F:
        values = self._values
        import inspect  # on first use as a decorator: inspect is a slow import

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with context(**values):
                    return await function(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with context(**values):
                return function(*args, **kwargs)

        return cast(F, run)

    def __repr__(self) -> str:
        return f"context({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"


def enter_values(values: Mapping[str, Any]) -> Token[Dict[str, Any] | None]:
    """Enter a context of ``values`` until ``leave_values(token)``, as ``context`` does.

    For integrations whose start and end are separate hooks: no object and no read-only view
    are made (about half of ``with context(...)``'s cost, paid on every request).
    """
    return _VALUES.set(_nested(values))


def leave_values(token: Token[Dict[str, Any] | None]) -> None:
    """Leave a context entered by ``enter_values`` (restores the one around it)."""
    _VALUES.reset(token)


def _nested(values: Mapping[str, Any]) -> Dict[str, Any]:
    """The values of a context entered here: the outer context's, with ``values`` over them."""
    outer = _VALUES.get()
    return {**outer, **values} if outer else dict(values)


def current_context() -> Mapping[str, Any]:
    """The context values in effect here (a read-only mapping; empty outside any context).

    Examples:
        >>> with Amplitude.context(route="/home"):
        ...     dict(Amplitude.current_context())
        {'route': '/home'}
    """
    values = _VALUES.get()
    return _EMPTY if values is None else MappingProxyType(values)


def merged_extra(extra: Dict[str, Any] | None) -> Dict[str, Any] | None:
    """``extra`` for an event logged here: the context's values under the caller's ``extra``.

    Returns ``extra`` itself (no copy) outside any context, so the legacy contract (middleware
    sees the caller's ``extra`` by reference) holds; inside one, a fresh dict.

    Raises:
        TypeError: inside a context, when ``extra`` is not a mapping (nothing to merge into).
    """
    values = _VALUES.get()
    if values is None:
        return extra
    if not extra:
        return values.copy()
    if not isinstance(extra, Mapping):
        raise TypeError(
            "logEvent's extra must be a dict inside Amplitude.context(), whose values are"
            f" merged under it; got {type(extra).__name__}"
        )
    merged = values.copy()
    merged.update(extra)
    return merged
