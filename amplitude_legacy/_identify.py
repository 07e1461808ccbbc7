"""Pure builders for special events: the legacy ``Identify`` and the newer-API ``Revenue``.

``Identify`` ports ``@amplitude/identify`` 1.10.2 (``packages/identify/src/identify.ts``) rule for
rule; ``Revenue`` follows ``@amplitude/analytics-node`` / ``amplitude-analytics`` because the
legacy SDK has no revenue helper. Nothing here does I/O:
invalid input is logged on the ``"amplitude_legacy"`` logger and ignored, never raised.
"""

from __future__ import annotations

import copy
import logging
from enum import Enum
from typing import Any, Final, Union

__all__ = [
    "EMPTY_GROUP_IDENTIFY_MESSAGE",
    "EMPTY_IDENTIFY_MESSAGE",
    "GROUP_IDENTIFY_OPERATIONS",
    "INVALID_IDENTIFY_MESSAGE",
    "MAX_NESTING_DEPTH",
    "MAX_PROPERTY_KEYS",
    "REVENUE_EVENT_TYPE",
    "UNSET_VALUE",
    "USER_IDENTIFY_OPERATIONS",
    "Identify",
    "IdentifyOperation",
    "Revenue",
    "SpecialEventType",
    "generate_base36_id",
    "legacy_identify_event",
    "log_empty_identify",
]

logger = logging.getLogger("amplitude_legacy")


class IdentifyOperation(str, Enum):
    """User-property operations understood by the ``$identify`` / ``$groupidentify`` events."""

    SET = "$set"
    SET_ONCE = "$setOnce"
    ADD = "$add"
    APPEND = "$append"
    PREPEND = "$prepend"
    REMOVE = "$remove"
    PREINSERT = "$preInsert"
    POSTINSERT = "$postInsert"
    UNSET = "$unset"
    CLEAR_ALL = "$clearAll"


class SpecialEventType(str, Enum):
    """Event types the server treats specially (legacy ``SpecialEventType``)."""

    IDENTIFY = "$identify"
    GROUP_IDENTIFY = "$groupidentify"


UNSET_VALUE: Final = "-"
MAX_PROPERTY_KEYS: Final = 1000
# TS SpecialEventType.REVENUE, Python AMP_REVENUE_EVENT.
REVENUE_EVENT_TYPE: Final = "revenue_amount"
_BASE36_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_INFINITY: Final = float("inf")
_DEVICE_ID_LENGTH: Final = 25

_Op = IdentifyOperation
# Both tuples also fix the key order of the output maps (legacy constants.ts).
USER_IDENTIFY_OPERATIONS: Final = (
    _Op.SET, _Op.SET_ONCE, _Op.ADD, _Op.APPEND, _Op.PREPEND,
    _Op.REMOVE, _Op.PREINSERT, _Op.POSTINSERT, _Op.UNSET, _Op.CLEAR_ALL,
)  # fmt: skip
GROUP_IDENTIFY_OPERATIONS: Final = (
    _Op.SET, _Op.SET_ONCE, _Op.ADD, _Op.APPEND, _Op.PREPEND, _Op.UNSET,
)  # fmt: skip

GroupName = Union[str, list[str]]


def generate_base36_id(length: int = _DEVICE_ID_LENGTH) -> str:
    """Return a random id of ``length`` characters from ``[0-9a-z]``.

    The legacy SDK uses ``Math.random``; ``secrets`` is used here so that throw-away device ids
    of concurrent group identifies cannot collide through a shared, seeded generator.

    Args:
        length: Number of characters; the legacy ``DEVICE_ID_LENGTH`` is 25.

    Returns:
        The random id, for example ``"4sy2ofz6k8jnq1e3e2eifa90l"``.
    """
    import secrets  # imported on first use: it pulls in hashlib and random

    return "".join(secrets.choice(_BASE36_DIGITS) for _ in range(length))


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python but not a number in JS (typeof true === 'boolean');
    # NaN and the infinities have no JSON form.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or _is_finite(value)


def _is_finite(value: float) -> bool:
    return -_INFINITY < value < _INFINITY  # NaN fails every comparison


def _describe(value: Any) -> str:
    """``repr`` of a scalar, the type name of anything else (a deep value's repr would recurse)."""
    if value is None or isinstance(value, (str, int, float)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__name__}"


#: The API's limit on nesting in a property object (the object itself is the first level).
MAX_NESTING_DEPTH: Final = 40
# An identify value sits two levels down ({"$set": {"name": value}}), so it may open 38 more.
_VALUE_ROOM: Final = MAX_NESTING_DEPTH - 2


def _value_problem(value: Any, room: int, legacy: bool, path: tuple[int, ...] = ()) -> str | None:
    """Why ``value`` cannot be sent as a property value, or ``None`` when it can.

    ``room`` is how many levels of containers ``value`` may still open (the API's 40 minus the
    levels above it), so the recursion is never deeper than the API's limit: a 5000-deep or
    self-referencing value is refused, never a ``RecursionError``. ``legacy`` adds the legacy
    ``isValidProperties`` rules (no ``None``, no nested arrays, at most 1000 keys per object);
    without it only what JSON and the API cannot take is refused (``remove``'s values).
    """
    if value is None:
        return "has a None value" if legacy else None
    if isinstance(value, (str, int)):  # bool is an int: accepted, as in JS
        return None
    if isinstance(value, float):
        return None if _is_finite(value) else f"holds the non-finite number {value!r}"
    is_dict = isinstance(value, dict)
    if not is_dict and not isinstance(value, (list, tuple)):
        return f"holds a value of type {type(value).__name__}, which JSON cannot encode"
    if id(value) in path:
        return "holds a container that contains itself"
    if room < 1:
        return f"nests deeper than the API's {MAX_NESTING_DEPTH} levels"
    path = (*path, id(value))
    if is_dict:
        if legacy and len(value) > MAX_PROPERTY_KEYS:
            return f"holds an object with too many properties (more than {MAX_PROPERTY_KEYS})"
        for key, item in value.items():
            if not isinstance(key, str):
                return f"holds the key {_describe(key)}, which is not a string"
            problem = _value_problem(item, room - 1, legacy, path)
            if problem is not None:
                return problem
        return None
    for item in value:
        if legacy and isinstance(item, (list, tuple)):
            return "holds a nested array"
        problem = _value_problem(item, room - 1, legacy, path)
        if problem is not None:
            return problem
    return None


def _add_ids(event: dict[str, Any], user_id: str | None, device_id: str | None) -> None:
    # Legacy identifyUser: only non-empty strings are attached.
    if isinstance(user_id, str) and user_id:
        event["user_id"] = user_id
    if isinstance(device_id, str) and device_id:
        event["device_id"] = device_id


class Identify:
    """Builder for ``$identify`` and ``$groupidentify`` events, with the legacy rules.

    Invalid calls are ignored with a warning on the ``"amplitude_legacy"`` logger:

    * each property name may be used once across all operations;
    * after :meth:`clear_all` every later operation is rejected;
    * :meth:`add` needs an ``int``/``float`` (``bool`` is refused);
    * the property name must be a ``str``;
    * values (except for :meth:`remove` and :meth:`unset`) must be ``str``/number/``bool``, a list
      of those or of dicts (no nested lists), or a dict of at most ``MAX_PROPERTY_KEYS`` keys
      checked recursively. ``None`` is refused with a warning; the legacy SDK raised
      ``TypeError`` out of ``set()`` instead, which this port deliberately does not copy;
    * every value, :meth:`remove`'s included, must be something the API can take: JSON (string
      keys, finite numbers), not self-referencing, and no deeper than the API's
      ``MAX_NESTING_DEPTH`` levels counted from ``user_properties`` (so 38 levels for the value
      itself). A value that breaks this is ignored with a warning naming the property, never
      a ``RecursionError``.

    Every method returns ``self`` and has its legacy camelCase alias (``setOnce``, ...).

    Examples:
        >>> idf = Identify().set("plan", "pro").add("logins", 1).setGroup("org", "acme")
        >>> idf.identify_user("user-1")["user_properties"]
        {'$set': {'plan': 'pro', 'org': 'acme'}, '$add': {'logins': 1}}
    """

    def __init__(self) -> None:
        """Create an empty builder."""
        self._properties: dict[str, Any] = {}
        self._groups: dict[str, Any] = {}
        # Legacy keeps this set through clear_all(); names stay "used" afterwards.
        self._property_names: set[str] = set()

    def _validate(self, op: IdentifyOperation, name: Any, value: Any) -> bool:
        if _Op.CLEAR_ALL.value in self._properties:
            logger.warning("Identify already has $clearAll. Skipping %s.", op.value)
            return False
        if not isinstance(name, str):  # before the set lookup: an unhashable name would raise
            logger.warning(
                "Property name %s is not a string. Skipping %s.", _describe(name), op.value
            )
            return False
        if name in self._property_names:
            logger.warning("Property %r already used. Skipping %s.", name, op.value)
            return False
        if op is _Op.ADD:
            if not _is_number(value):
                logger.warning(
                    "$add needs a number for %r (finite, not a bool), got %s. Skipping.",
                    name,
                    _describe(value),
                )
                return False
            return True
        # Legacy: remove's values get no type rules, but must still be sendable.
        problem = _value_problem(value, _VALUE_ROOM, legacy=op is not _Op.REMOVE)
        if problem is not None:
            logger.warning("Property %r %s. Skipping %s.", name, problem, op.value)
            return False
        return True

    def _safe_set(self, op: IdentifyOperation, name: str, value: Any) -> bool:
        if not self._validate(op, name, value):
            return False
        self._properties.setdefault(op.value, {})[name] = value
        self._property_names.add(name)
        return True

    def set(self, property: str, value: Any) -> Identify:
        """Set a user property (``$set``).

        Args:
            property: The property name.
            value: The new value.

        Returns:
            This builder.
        """
        self._safe_set(_Op.SET, property, value)
        return self

    def set_once(self, property: str, value: Any) -> Identify:
        """Set a user property only if it has no value yet (``$setOnce``).

        Args:
            property: The property name.
            value: The value.

        Returns:
            This builder.
        """
        self._safe_set(_Op.SET_ONCE, property, value)
        return self

    def add(self, property: str, value: float) -> Identify:
        """Add a number to a numeric user property (``$add``).

        Args:
            property: The property name.
            value: An ``int`` or ``float`` (may be negative); anything else is ignored.

        Returns:
            This builder.
        """
        self._safe_set(_Op.ADD, property, value)
        return self

    def append(self, property: str, value: Any) -> Identify:
        """Append a value or list of values to a list property (``$append``).

        Args:
            property: The property name.
            value: The value(s) to append.

        Returns:
            This builder.
        """
        self._safe_set(_Op.APPEND, property, value)
        return self

    def prepend(self, property: str, value: Any) -> Identify:
        """Prepend a value or list of values to a list property (``$prepend``).

        Args:
            property: The property name.
            value: The value(s) to prepend.

        Returns:
            This builder.
        """
        self._safe_set(_Op.PREPEND, property, value)
        return self

    def remove(self, property: str, value: Any) -> Identify:
        """Remove a value or list of values from a list property (``$remove``).

        Args:
            property: The property name.
            value: The value(s) to remove; not validated, as in the legacy SDK.

        Returns:
            This builder.
        """
        self._safe_set(_Op.REMOVE, property, value)
        return self

    def pre_insert(self, property: str, value: Any) -> Identify:
        """Prepend value(s) not already in a list property (``$preInsert``).

        Args:
            property: The property name.
            value: The value(s) to insert.

        Returns:
            This builder.
        """
        self._safe_set(_Op.PREINSERT, property, value)
        return self

    def post_insert(self, property: str, value: Any) -> Identify:
        """Append value(s) not already in a list property (``$postInsert``).

        Args:
            property: The property name.
            value: The value(s) to insert.

        Returns:
            This builder.
        """
        self._safe_set(_Op.POSTINSERT, property, value)
        return self

    def unset(self, property: str) -> Identify:
        """Remove a user property (``$unset``, stored with the value ``"-"``).

        Args:
            property: The property name.

        Returns:
            This builder.
        """
        self._safe_set(_Op.UNSET, property, UNSET_VALUE)
        return self

    def clear_all(self) -> Identify:
        """Replace every operation with ``{"$clearAll": "-"}`` and block later operations.

        Groups recorded by :meth:`set_group` and the set of used names are kept (legacy).

        Returns:
            This builder.
        """
        self._properties = {_Op.CLEAR_ALL.value: UNSET_VALUE}
        return self

    def set_group(self, group_name: str, group_value: GroupName) -> Identify:
        """Put the user in a group: ``$set`` the group, then record it in ``groups``.

        Args:
            group_name: The group type, for example ``"org"``.
            group_value: The group name, or a list of names.

        Returns:
            This builder.
        """
        if self._safe_set(_Op.SET, group_name, group_value):
            self._groups[group_name] = group_value
        return self

    def _ops(self, allowed: tuple[IdentifyOperation, ...]) -> dict[str, Any]:
        # Deep copy: an event already handed to the client must not change with the builder.
        return {
            op.value: copy.deepcopy(self._properties[op.value])
            for op in allowed
            if op.value in self._properties
        }

    def identify_user(self, user_id: str | None, device_id: str | None = None) -> dict[str, Any]:
        """Build a fresh ``$identify`` event, key order as in the legacy SDK.

        Args:
            user_id: Added as ``user_id`` only when a non-empty string.
            device_id: Added as ``device_id`` only when a non-empty string.

        Returns:
            ``{"event_type": "$identify", "groups": ..., "user_properties": ...}`` plus the ids.
        """
        event: dict[str, Any] = {
            "event_type": SpecialEventType.IDENTIFY.value,
            "groups": copy.deepcopy(self._groups),
            "user_properties": self._ops(USER_IDENTIFY_OPERATIONS),
        }
        _add_ids(event, user_id, device_id)
        if "user_id" not in event and "device_id" not in event:
            logger.warning("Identify event has neither user_id nor device_id; it will be invalid.")
        return event

    def identify_group(self, group_type: str, group_name: GroupName) -> dict[str, Any]:
        """Build a fresh ``$groupidentify`` event with a throw-away random ``device_id``.

        Only ``$set, $setOnce, $add, $append, $prepend, $unset`` are kept; other operations are
        silently dropped, as in the legacy SDK.

        Args:
            group_type: The group type, for example ``"org"``.
            group_name: The group name, or a list of names.

        Returns:
            ``{"event_type", "groups", "group_properties", "device_id"}``.
        """
        return {
            "event_type": SpecialEventType.GROUP_IDENTIFY.value,
            "groups": {group_type: copy.deepcopy(group_name)},
            "group_properties": self._ops(GROUP_IDENTIFY_OPERATIONS),
            "device_id": generate_base36_id(),
        }

    @property
    def properties(self) -> dict[str, Any]:
        """A copy of the user-property operations, in wire order."""
        return self._ops(USER_IDENTIFY_OPERATIONS)

    @property
    def groups(self) -> dict[str, Any]:
        """A copy of the groups recorded by :meth:`set_group`."""
        return copy.deepcopy(self._groups)

    def is_valid(self) -> bool:
        """Return whether at least one operation (or ``clear_all``) was recorded."""
        return bool(self._properties)

    def __repr__(self) -> str:
        return f"Identify(properties={self.properties!r}, groups={self._groups!r})"

    # Legacy camelCase names.
    setOnce = set_once
    preInsert = pre_insert
    postInsert = post_insert
    clearAll = clear_all
    setGroup = set_group
    identifyUser = identify_user
    identifyGroup = identify_group


class Revenue:
    """Builder for a ``revenue_amount`` event, following the newer SDKs.

    The legacy SDK has no revenue helper. Validity is the Python SDK's (``amplitude-analytics``)
    rule: a price is required, and the quantity (default 1) must be a positive ``int``. A setter
    given a value it cannot take logs a warning and never raises: for :meth:`set_price` and
    :meth:`set_quantity` the bad value makes the revenue invalid (it is not sent, and
    :meth:`find_problem` names the field) until a valid one is set, so nothing the caller did not
    give (such as the default quantity) is sent in its place; the other setters keep their
    previous value, as the TS SDK's do. Unlike the Python SDK, an ``int`` price or revenue is
    accepted and stored as ``float``.

    Examples:
        >>> rev = Revenue().set_product_id("sku-1").set_price(3.99).set_quantity(3)
        >>> rev.to_event(user_id="user-1")["event_properties"]
        {'$productId': 'sku-1', '$quantity': 3, '$price': 3.99}
        >>> Revenue().set_price(3.99).set_quantity(0).find_problem()
        ('quantity', 'quantity must be a positive int, got 0')
    """

    def __init__(self) -> None:
        """Create a builder with quantity 1 and nothing else set."""
        self._product_id: str | None = None
        self._quantity: int | None = 1
        self._price: float | None = None
        self._revenue_type: str | None = None
        self._currency: str | None = None
        self._revenue: float | None = None
        self._receipt: str | None = None
        self._receipt_sig: str | None = None
        self._properties: dict[str, Any] = {}
        # Why price/quantity are unusable, by field, after a setter refused the caller's value.
        self._refused: dict[str, str] = {}

    @staticmethod
    def _check(ok: bool, field: str, value: Any) -> bool:
        if not ok:
            logger.warning("Invalid revenue %s %s. Ignoring.", field, _describe(value))
        return ok

    def _refuse(self, field: str, message: str) -> None:
        logger.warning(
            "Invalid revenue %s: %s. The revenue is invalid until it is set.", field, message
        )
        self._refused[field] = message

    def set_product_id(self, product_id: str) -> Revenue:
        """Set ``$productId``.

        Args:
            product_id: The product identifier.

        Returns:
            This builder.
        """
        if self._check(isinstance(product_id, str), "product id", product_id):
            self._product_id = product_id
        return self

    def set_quantity(self, quantity: int) -> Revenue:
        """Set ``$quantity`` (default 1).

        Args:
            quantity: A positive ``int``. Anything else (``0``, ``-2``, ``1.5``, ``True``) makes
                the revenue invalid until a valid quantity is set.

        Returns:
            This builder.
        """
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            self._quantity = quantity
            self._refused.pop("quantity", None)
        else:
            self._quantity = None
            self._refuse("quantity", f"quantity must be a positive int, got {_describe(quantity)}")
        return self

    def set_price(self, price: float) -> Revenue:
        """Set ``$price`` (may be negative); revenue = price x quantity when no revenue is set.

        Args:
            price: A finite ``int`` or ``float``. Anything else makes the revenue invalid until
                a valid price is set.

        Returns:
            This builder.
        """
        if _is_number(price):
            self._price = float(price)
            self._refused.pop("price", None)
        else:
            self._price = None
            self._refuse("price", f"price must be a finite number, got {_describe(price)}")
        return self

    def set_revenue_type(self, revenue_type: str) -> Revenue:
        """Set ``$revenueType`` (for example ``"income"``, ``"tax"``, ``"refund"``).

        Args:
            revenue_type: The revenue type.

        Returns:
            This builder.
        """
        if self._check(isinstance(revenue_type, str), "revenue type", revenue_type):
            self._revenue_type = revenue_type
        return self

    def set_revenue(self, revenue: float) -> Revenue:
        """Set ``$revenue``, the total amount (may be negative).

        Args:
            revenue: An ``int`` or ``float``.

        Returns:
            This builder.
        """
        if self._check(_is_number(revenue), "revenue", revenue):
            self._revenue = float(revenue)
        return self

    def set_receipt(self, receipt: str, receipt_signature: str) -> Revenue:
        """Set ``$receipt`` and ``$receiptSig`` for purchase verification.

        Args:
            receipt: The receipt identifier.
            receipt_signature: The receipt signature.

        Returns:
            This builder.
        """
        ok = isinstance(receipt, str) and isinstance(receipt_signature, str)
        if self._check(ok, "receipt", (receipt, receipt_signature)):
            self._receipt, self._receipt_sig = receipt, receipt_signature
        return self

    def set_currency(self, currency: str) -> Revenue:
        """Set ``$currency``.

        Args:
            currency: An ISO 4217 code such as ``"USD"``.

        Returns:
            This builder.
        """
        if self._check(isinstance(currency, str), "currency", currency):
            self._currency = currency
        return self

    def set_event_properties(self, properties: dict[str, Any]) -> Revenue:
        """Set extra event properties sent alongside the ``$`` revenue keys.

        Args:
            properties: A dict validated like identify values, at most as deep as the API's 40
                levels (``event_properties`` itself is the first). An invalid dict is ignored
                with a warning naming the property.

        Returns:
            This builder.
        """
        if not isinstance(properties, dict) or len(properties) > MAX_PROPERTY_KEYS:
            self._check(False, "event properties", properties)
            return self
        path = (id(properties),)  # event_properties is the first of the API's levels
        for name, value in properties.items():
            problem = (
                "is not a string"
                if not isinstance(name, str)
                else _value_problem(value, MAX_NESTING_DEPTH - 1, True, path)
            )
            if problem is not None:
                logger.warning(
                    "Invalid revenue event property %s %s. Ignoring them.", _describe(name), problem
                )
                return self
        self._properties = copy.deepcopy(properties)
        return self

    def find_problem(self) -> tuple[str, str] | None:
        """Why this revenue would not be sent, as ``(field, message)``, or ``None`` when valid.

        The rule is the Python SDK's: a price is required, and the quantity must be a positive
        ``int`` (see :meth:`set_price` and :meth:`set_quantity`).

        Returns:
            For example ``("quantity", "quantity must be a positive int, got 0")``, or
            ``("price", "price is required (set_price)")``.
        """
        for field in ("price", "quantity"):
            if field in self._refused:
                return field, self._refused[field]
        if self._price is None:
            return "price", "price is required (set_price)"
        return None

    def is_valid(self) -> bool:
        """Return whether the revenue can be sent: :meth:`find_problem` found nothing.

        Returns:
            ``True`` when a price is set and neither price nor quantity was refused.
        """
        return self.find_problem() is None

    def to_event_properties(self) -> dict[str, Any]:
        """Return a fresh ``event_properties`` dict with only the fields that are set.

        User properties come first; the ``$`` keys follow in the TS SDK order and win on clashes.

        Returns:
            For example ``{"$productId": "sku-1", "$quantity": 2, "$price": 3.5}``.
        """
        fields = {
            "$productId": self._product_id,
            "$quantity": self._quantity,
            "$price": self._price,
            "$revenueType": self._revenue_type,
            "$currency": self._currency,
            "$revenue": self._revenue,
            "$receipt": self._receipt,
            "$receiptSig": self._receipt_sig,
        }
        props = copy.deepcopy(self._properties)
        props.update((key, value) for key, value in fields.items() if value is not None)
        return props

    def to_event(self, user_id: str | None = None, device_id: str | None = None) -> dict[str, Any]:
        """Build a ``revenue_amount`` event; warns (but still builds) when :meth:`find_problem`
        finds one (``NodeClient.revenue`` sends nothing then).

        Args:
            user_id: Added only when a non-empty string.
            device_id: Added only when a non-empty string.

        Returns:
            ``{"event_type": "revenue_amount", "event_properties": ...}`` plus the ids.
        """
        problem = self.find_problem()
        if problem is not None:
            logger.warning("Invalid revenue: %s.", problem[1])
        event: dict[str, Any] = {
            "event_type": REVENUE_EVENT_TYPE,
            "event_properties": self.to_event_properties(),
        }
        _add_ids(event, user_id, device_id)
        return event

    def __repr__(self) -> str:
        return f"Revenue({self.to_event_properties()!r})"

    setProductId = set_product_id
    setQuantity = set_quantity
    setPrice = set_price
    setRevenueType = set_revenue_type
    setRevenue = set_revenue
    setReceipt = set_receipt
    setCurrency = set_currency
    setEventProperties = set_event_properties


#: What the official SDK logs (at ERROR) for an identify or group identify with no operation.
EMPTY_IDENTIFY_MESSAGE: Final = "Empty identify properties"
EMPTY_GROUP_IDENTIFY_MESSAGE: Final = "Empty group identify properties"


def log_empty_identify(kind: str) -> str:
    """Log (at ERROR, as the official SDK does) that an identify with no operation is skipped.

    Args:
        kind: ``"user"`` or ``"group"``.

    Returns:
        The official SDK's message (``EMPTY_IDENTIFY_MESSAGE`` or
        ``EMPTY_GROUP_IDENTIFY_MESSAGE``), for the caller's ``Result``.
    """
    message = EMPTY_IDENTIFY_MESSAGE if kind == "user" else EMPTY_GROUP_IDENTIFY_MESSAGE
    logger.error("amplitude_legacy: %s. Skipping operation.", message)
    return message


#: Why a legacy ``identify``/``groupIdentify`` of something that is not an ``Identify`` is skipped.
INVALID_IDENTIFY_MESSAGE: Final = "Invalid Identify object"


def legacy_identify_event(
    kind: str, identify: object, first: Any, second: Any
) -> dict[str, Any] | str:
    """The event a legacy ``identify``/``groupIdentify`` call logs, or why it is skipped.

    The legacy SDK skips (with a warning) anything that is not an ``Identify``. An event that
    would carry no operation (an empty builder, or a group identify whose operations are all
    outside the legacy group set) is skipped too, with the official SDK's error log, where the
    legacy SDK sent it empty. Both clients (``NodeClient`` and the ``LegacyClient`` shim) share
    this rule.

    Args:
        kind: ``"user"`` (``first``/``second`` are the user and device ids) or ``"group"``
            (the group type and name, a list of names allowed).
        identify: what the caller passed as the ``Identify``.
        first: the user id, or the group type.
        second: the device id, or the group name.

    Returns:
        The event dict; or, when ``identify`` is not an ``Identify`` or has no operation for
        this kind of event, the message already logged (``INVALID_IDENTIFY_MESSAGE``,
        ``EMPTY_IDENTIFY_MESSAGE`` or ``EMPTY_GROUP_IDENTIFY_MESSAGE``).
    """
    if not isinstance(identify, Identify):
        logger.warning("amplitude_legacy: %s. Skipping operation.", INVALID_IDENTIFY_MESSAGE)
        return INVALID_IDENTIFY_MESSAGE
    if kind == "user":
        event = identify.identify_user(first, second)
        operations = event["user_properties"]
    else:
        name = second if isinstance(second, str) else list(second)
        event = identify.identify_group(first, name)
        operations = event["group_properties"]
    if not operations:
        return log_empty_identify(kind)
    return event
