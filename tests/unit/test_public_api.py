"""Unit tests locking the public surface of ``amplitude_legacy``."""

from __future__ import annotations

import importlib
import inspect
import pathlib

import pytest

import amplitude_legacy
from amplitude_legacy import NodeClient

EXPECTED_ALL = [
    "AmplitudeError",
    "BaseRetryHandler",
    "ClientClosedError",
    "ClientStats",
    "ConnectionFailedError",
    "DEFAULT_RETRY_TIMEOUTS",
    "DefaultRetryHandler",
    "DeliveryError",
    "DropReason",
    "Event",
    "EventFuture",
    "FlushResult",
    "HttpResponse",
    "Identify",
    "IdentifyOperation",
    "InvalidEventError",
    "LIBRARY",
    "LogLevel",
    "Middleware",
    "MiddlewareNext",
    "MiddlewarePayload",
    "NodeClient",
    "OfflineRetryHandler",
    "Options",
    "OptionsError",
    "RequestTimeoutError",
    "RequestsTransport",
    "Response",
    "RetryHandler",
    "RetryPolicy",
    "Revenue",
    "SpecialEventType",
    "Status",
    "Transport",
    "TransportError",
    "Urllib3Transport",
    "__version__",
    "classify",
    "context",
    "createInstance",
    "create_instance",
    "current_context",
    "flushing",
    "getInstance",
    "get_instance",
    "init",
]

CAMEL_TO_SNAKE = {
    "logEvent": "log_event",
    "addEventMiddleware": "add_event_middleware",
    "getOptions": "get_options",
    "setOptOut": "set_opt_out",
    "groupIdentify": "group_identify",
}


def test_all_is_locked() -> None:
    """__all__ holds exactly the expected public names, without duplicates."""
    assert sorted(amplitude_legacy.__all__) == EXPECTED_ALL
    assert len(set(amplitude_legacy.__all__)) == len(amplitude_legacy.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_name_importable(name: str) -> None:
    """Every public name can be imported from the package."""
    module = importlib.import_module("amplitude_legacy")
    assert hasattr(module, name)
    namespace: dict[str, object] = {}
    exec(f"from amplitude_legacy import {name}", namespace)
    assert namespace[name] is getattr(module, name)


def test_star_import_gives_all() -> None:
    """`from amplitude_legacy import *` binds exactly __all__."""
    namespace: dict[str, object] = {}
    exec("from amplitude_legacy import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == EXPECTED_ALL


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in EXPECTED_ALL
        if inspect.isclass(getattr(amplitude_legacy, n))
        or inspect.isroutine(getattr(amplitude_legacy, n))
    ],
)
def test_public_class_or_function_has_docstring(name: str) -> None:
    """Every public class and function has its own written docstring."""
    obj = getattr(amplitude_legacy, name)
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    # A dataclass without a docstring gets a generated "Name(field: type, ...)" one.
    assert not doc.startswith(f"{obj.__name__}("), f"{name} has only a generated docstring"


def test_version_is_a_string() -> None:
    """__version__ is a non-empty string."""
    assert isinstance(amplitude_legacy.__version__, str)
    assert amplitude_legacy.__version__


def test_py_typed_marker_exists() -> None:
    """The package ships a py.typed marker (PEP 561)."""
    package_dir = pathlib.Path(amplitude_legacy.__file__).parent
    assert (package_dir / "py.typed").is_file()


@pytest.mark.parametrize(("camel", "snake"), sorted(CAMEL_TO_SNAKE.items()))
def test_snake_case_alias_is_same_function(camel: str, snake: str) -> None:
    """Each camelCase NodeClient method has a snake_case alias that is the same function."""
    camel_fn = inspect.getattr_static(NodeClient, camel)
    snake_fn = inspect.getattr_static(NodeClient, snake)
    assert inspect.isfunction(camel_fn)
    assert snake_fn is camel_fn


def test_every_camel_case_method_has_alias() -> None:
    """No public camelCase method of NodeClient lacks a snake_case alias."""
    camel_methods = {
        name
        for name, value in vars(NodeClient).items()
        if inspect.isfunction(value)
        and not name.startswith("_")
        and name != name.lower()
        and value.__name__ == name
    }
    assert camel_methods >= set(CAMEL_TO_SNAKE)
    for name in camel_methods:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
        assert vars(NodeClient).get(snake) is vars(NodeClient)[name], name


def test_get_instance_alias() -> None:
    """The legacy getInstance is the same function as get_instance."""
    assert amplitude_legacy.getInstance is amplitude_legacy.get_instance


def test_default_retry_handler_alias() -> None:
    """DefaultRetryHandler is an alias of RetryHandler, as in the legacy SDK."""
    assert amplitude_legacy.DefaultRetryHandler is amplitude_legacy.RetryHandler
