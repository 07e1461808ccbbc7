"""Tracking plans: ``TrackingPlan`` (JSON Schema per event type) and ``validate``.

Schemas are compiled once, at construction, by ``fastjsonschema``: it turns each schema into
Python code, about 20x faster per event than ``jsonschema``'s interpreter on a 10-property
schema (5-6 µs against ~100 µs on the benchmark machine), which is what makes a check on the
caller's thread affordable. A plain schema also gets an acceptor (``_plain_schema``) that
answers the common valid event with a third of the instructions; fastjsonschema decides every event
the acceptor is not sure of, and writes every message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Tuple, Union

from amplitude_legacy._event import Event
from amplitude_legacy._middleware import Middleware, Stop, ready_made
from amplitude_legacy.middleware._common import BurstLog, Reason, get_field
from amplitude_legacy.middleware._plain_schema import Acceptor, compile_acceptor

__all__ = ["ON_VIOLATION", "PlanSource", "TrackingPlan", "validate"]

#: What ``validate`` does with an event that breaks the plan.
ON_VIOLATION = ("drop", "warn", "annotate")
#: Not tracked events: exempt from ``allow_unplanned=False`` unless the plan lists them.
_EXEMPT = frozenset(("$identify", "$groupidentify"))
EXTRA_HINT = 'pip install "amplitude_legacy[tracking-plan]"'

PlanSource = Union["TrackingPlan", Mapping[str, Any], str, "os.PathLike[str]"]
"""A ``TrackingPlan``, a dict of event type -> JSON Schema, or the path of a JSON file
holding that dict."""

Check = Callable[..., Any]


def _load_fastjsonschema() -> Any:
    try:
        import fastjsonschema
    except ImportError as exc:
        raise ImportError(f"tracking plans need fastjsonschema: {EXTRA_HINT}") from exc
    return fastjsonschema


class _NoRemoteRefs(Dict[str, Any]):
    """``handlers`` for fastjsonschema that refuse every remote ``$ref`` (any scheme):
    compiling a plan never opens a URL or a file behind the user's back."""

    def __contains__(self, scheme: object) -> bool:
        return True

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        def refuse(uri: str) -> Any:
            raise ValueError(f"remote $ref {uri!r}: put the definition in the schema itself")

        return refuse


def _read_plan(source: str | os.PathLike[str]) -> Mapping[str, Any]:
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"plan: cannot read {os.fspath(source)!r}: {exc.strerror}") from None
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"plan: {os.fspath(source)!r} is not JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"plan: {os.fspath(source)!r} must hold an object (event type -> schema)")
    return loaded


class TrackingPlan:
    """A tracking plan: one JSON Schema per event type, for its ``event_properties``.

    Every schema is compiled when the plan is built (``fastjsonschema``, default draft
    2019-09; ``$schema`` picks draft 4, 6 or 7). Remote ``$ref`` are refused. Defaults in a
    schema are never written into events.

    Args:
        plan: ``{"Checkout Completed": {"type": "object", ...}, ...}`` or the path of a JSON
            file holding it.

    Raises:
        ValueError: the file cannot be read or is not JSON; a key that is not a non-empty
            string; a schema that does not compile (the message names its event type).
        ImportError: ``fastjsonschema`` is missing (``pip install
            "amplitude_legacy[tracking-plan]"``).

    Examples:
        >>> plan = TrackingPlan({"Signed Up": {"type": "object", "required": ["plan"]}})
        >>> plan.check({"event_type": "Signed Up", "event_properties": {}})
        "event_properties must contain ['plan'] properties"
    """

    def __init__(self, plan: Mapping[str, Any] | str | os.PathLike[str]) -> None:
        if isinstance(plan, (str, os.PathLike)):
            plan = _read_plan(plan)
        if not isinstance(plan, Mapping):
            raise TypeError(
                f"plan must be a dict of event type -> JSON Schema or a JSON file path, "
                f"got {type(plan).__name__}"
            )
        fastjsonschema = _load_fastjsonschema()
        self._error = fastjsonschema.JsonSchemaValueException
        # event type -> (the plain-schema acceptor or None, fastjsonschema's check)
        self._checks: Dict[str, Tuple[Acceptor | None, Check]] = {}
        for event_type, schema in plan.items():
            if not isinstance(event_type, str) or not event_type:
                raise ValueError(f"plan: keys must be event types, got {event_type!r}")
            if not isinstance(schema, (dict, bool)):
                raise ValueError(
                    f"plan[{event_type!r}]: a JSON Schema is an object (or true/false), "
                    f"got {type(schema).__name__}"
                )
            try:
                check = fastjsonschema.compile(schema, handlers=_NoRemoteRefs(), use_default=False)
            except Exception as exc:  # fastjsonschema raises several kinds for a bad schema
                raise ValueError(f"plan[{event_type!r}]: not a valid JSON Schema: {exc}") from None
            patterns = getattr(check, "__globals__", {}).get("REGEX_PATTERNS", {})
            self._checks[event_type] = (compile_acceptor(schema, patterns), check)

    @property
    def event_types(self) -> frozenset[str]:
        """The event types the plan describes."""
        return frozenset(self._checks)

    def check(self, event: Mapping[str, Any], allow_unplanned: bool = True) -> str | None:
        """Check one event against its schema.

        Args:
            event: the event (its ``event_properties``; absent counts as ``{}``).
            allow_unplanned: when false, an event type the plan does not list is a problem
                (``$identify`` and ``$groupidentify`` excepted unless listed).

        Returns:
            ``None`` when it conforms (or its type is not in the plan and that is allowed),
            else the first problem (``"event_properties.currency must match pattern ..."``).
        """
        return self.checker(allow_unplanned)(event if isinstance(event, dict) else dict(event))

    def checker(self, allow_unplanned: bool = True) -> Callable[[Dict[str, Any]], str | None]:
        """``check`` as one function of a dict event, for hot paths (``validate`` uses it).

        Args:
            allow_unplanned: as for ``check``.

        Returns:
            ``problem_of(event) -> str | None``.
        """
        checks, error, exempt = self._checks, self._error, _EXEMPT

        def problem_of(event: Dict[str, Any]) -> str | None:
            event_type = get_field(event, "event_type")
            found = checks.get(event_type) if type(event_type) is str else None
            if found is None:
                if not allow_unplanned and event_type not in exempt:
                    return f"event type {event_type!r} is not in the tracking plan"
                return None
            properties = get_field(event, "event_properties")
            if properties is None:
                properties = {}
            accept, validate = found
            if accept is not None and accept(properties):
                return None  # surely valid (see _plain_schema): the common case, cheaply
            try:
                validate(properties)
            except error:
                try:  # again, rarely: for a message that names the property's full path
                    validate(properties, name_prefix="event_properties")
                except error as exc:
                    return str(exc.message)
            return None

        return problem_of

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._checks

    def __repr__(self) -> str:
        return f"<TrackingPlan {len(self._checks)} event type(s)>"


def validate(
    plan: PlanSource,
    on_violation: str = "drop",
    *,
    allow_unplanned: bool = True,
    annotate_property: str = "tracking_plan_violation",
) -> Middleware:
    """Check every event against a tracking plan (JSON Schema per event type).

    With ``on_violation="drop"`` an event that breaks its schema stops here: its future
    resolves ``skipped`` with reason ``"tracking_plan"`` and the problem in
    ``Response.error``; it is counted in ``client.stats().dropped["tracking_plan"]`` and passed
    to ``onDrop``. ``"warn"`` logs the problem (once per burst per event type) and sends the
    event; ``"annotate"`` sends it with the problem in ``event_properties[annotate_property]``.

    Args:
        plan: a ``TrackingPlan``, a dict of event type -> JSON Schema, or a JSON file path.
        on_violation: ``"drop"`` (default), ``"warn"`` or ``"annotate"``.
        allow_unplanned: when false, an event type missing from the plan is a violation too
            (``$identify`` and ``$groupidentify`` excepted unless the plan lists them).
        annotate_property: the property ``"annotate"`` writes.

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: an unknown ``on_violation``; a bad plan (see ``TrackingPlan``).
        ImportError: ``fastjsonschema`` is missing (``pip install
            "amplitude_legacy[tracking-plan]"``).

    Examples:
        >>> client.addEventMiddleware(validate("tracking-plan.json", on_violation="warn"))
    """
    if on_violation not in ON_VIOLATION:
        raise ValueError(f"on_violation must be 'drop', 'warn' or 'annotate', got {on_violation!r}")
    if not isinstance(annotate_property, str) or not annotate_property:
        raise ValueError(f"annotate_property must be a non-empty string, got {annotate_property!r}")
    compiled = plan if isinstance(plan, TrackingPlan) else TrackingPlan(plan)
    check = compiled.checker(allow_unplanned)
    burst = BurstLog()

    if on_violation == "drop":

        def validate_drop(event: Event) -> Stop | None:
            problem = check(event)
            if problem is None:
                return None
            return Stop(Reason.TRACKING_PLAN, f"{get_field(event, 'event_type')}: {problem}")

        return ready_made(validate_drop, "validate_drop")

    warn = on_violation == "warn"

    def validate_and_pass(event: Event) -> None:
        problem = check(event)
        if problem is not None:
            event_type = get_field(event, "event_type")
            if warn:
                burst.warn(
                    str(event_type),
                    "amplitude_legacy: tracking plan violation in %r: %s",
                    event_type,
                    problem,
                )
            else:
                properties = get_field(event, "event_properties")
                event["event_properties"] = {
                    **(properties if isinstance(properties, Mapping) else {}),
                    annotate_property: problem,
                }

    return ready_made(validate_and_pass, "validate_and_pass")
