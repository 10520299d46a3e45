"""Edge validation: JSON bodies and query strings become typed values, or a 400 listing every bad field.

Unknown fields are refused (never silently ignored), so a client can't smuggle `role` into a profile update.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.errors import ValidationFailed

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MISSING = object()


class FieldProblem(Exception):
    pass


class Field:
    """How one input field is parsed. A plain class: every Lambda imports this module at cold start."""

    __slots__ = ("default", "from_query", "parse", "required")

    def __init__(self, parse: Callable[[Any], Any], required: bool = True, default: Any = None,
                 from_query: Callable[[str], Any] | None = None):
        self.parse = parse
        self.required = required
        self.default = default
        self.from_query = from_query  # how a query-string value becomes JSON-like input


def _text(value: Any, min_len: int, max_len: int, strip: bool) -> str:
    if not isinstance(value, str):
        raise FieldProblem("must be a string")
    if strip:
        value = value.strip()
    if "\x00" in value:
        raise FieldProblem("must not contain NUL characters")
    if len(value) < min_len:
        raise FieldProblem("must not be empty" if min_len == 1 else f"must be at least {min_len} characters")
    if len(value) > max_len:
        raise FieldProblem(f"must be at most {max_len} characters")
    return value


def text(max_len: int = 200, min_len: int = 1, *, required: bool = True, strip: bool = True,
         pattern: re.Pattern[str] | None = None, pattern_hint: str = "has an invalid format") -> Field:
    def parse(value: Any) -> str:
        result = _text(value, min_len, max_len, strip)
        if pattern is not None and not pattern.fullmatch(result):
            raise FieldProblem(pattern_hint)
        return result

    return Field(parse, required)


def secret_text(max_len: int = 1024, *, required: bool = True) -> Field:
    """Passwords and codes: kept exactly as typed (no strip), bounded in size."""
    return Field(lambda v: _text(v, 1, max_len, strip=False), required)


def choice(options: Iterable[str], *, required: bool = True, default: str | None = None) -> Field:
    allowed = tuple(options)

    def parse(value: Any) -> str:
        if value not in allowed:
            raise FieldProblem(f"must be one of {', '.join(allowed)}")
        return value

    return Field(parse, required, default)


def integer(minimum: int | None = None, maximum: int | None = None, *, required: bool = True,
            default: int | None = None) -> Field:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldProblem("must be an integer")
        if minimum is not None and value < minimum:
            raise FieldProblem(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise FieldProblem(f"must be at most {maximum}")
        return value

    return Field(parse, required, default, from_query=_query_int)


def _query_int(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value


def boolean(*, required: bool = False, default: bool | None = None) -> Field:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise FieldProblem("must be true or false")
        return value

    return Field(parse, required, default)


def decimal(places: int, minimum: Decimal, maximum: Decimal, *, required: bool = True) -> Field:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise FieldProblem("must be a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise FieldProblem("must be a number") from None
        if not number.is_finite():
            raise FieldProblem("must be a number")
        if -number.as_tuple().exponent > places:  # type: ignore[operator]
            raise FieldProblem(f"must have at most {places} decimal places")
        if not minimum <= number <= maximum:
            raise FieldProblem(f"must be between {minimum} and {maximum}")
        return number.quantize(Decimal(1).scaleb(-places))

    return Field(parse, required)


def phone(*, required: bool = True) -> Field:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not E164.fullmatch(value):
            raise FieldProblem("must be an E.164 phone number such as +8613800138000")
        if value.startswith("+86") and not re.fullmatch(r"\+861\d{10}", value):
            raise FieldProblem("must be a valid mainland China mobile number")
        return value

    return Field(parse, required)


def email(*, required: bool = False) -> Field:
    pattern = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
    return text(254, required=required, pattern=pattern, pattern_hint="must be an email address")


def id_list(min_items: int = 1, max_items: int = 50, *, required: bool = True) -> Field:
    def parse(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise FieldProblem("must be a list")
        if not min_items <= len(value) <= max_items:
            raise FieldProblem(f"must have {min_items} to {max_items} items")
        if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
            raise FieldProblem("must be a list of ids")
        if len(set(value)) != len(value):
            raise FieldProblem("must not repeat an id")
        return tuple(value)

    return Field(parse, required)


def date_field(*, required: bool = True) -> Field:
    def parse(value: Any) -> date:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise FieldProblem("must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FieldProblem("must be a valid date") from None

    return Field(parse, required)


def timestamp(*, required: bool = True) -> Field:
    def parse(value: Any) -> datetime:
        if not isinstance(value, str) or "T" not in value:
            raise FieldProblem("must be an RFC 3339 time such as 2026-11-25T06:00:00Z")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldProblem("must be an RFC 3339 time such as 2026-11-25T06:00:00Z") from None
        if parsed.tzinfo is None:
            raise FieldProblem("must carry a time zone (Z or an offset)")
        return parsed.astimezone(UTC)

    return Field(parse, required)


def period(*, required: bool = True) -> Field:
    return text(7, required=required, pattern=PERIOD, pattern_hint="must be a billing period YYYY-MM")


def validate(data: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    """Check `data` against `spec`: every problem is reported at once, unknown keys included."""
    problems: dict[str, str] = {}
    result: dict[str, Any] = {}
    for key in data:
        if key not in spec:
            problems[key] = "is not a known field"
    for name, field in spec.items():
        value = data.get(name, MISSING)
        if value is MISSING or value is None:
            if field.required:
                problems[name] = "is required"
            result[name] = field.default
            continue
        try:
            result[name] = field.parse(value)
        except FieldProblem as problem:
            problems[name] = str(problem)
    if problems:
        raise ValidationFailed("Some fields are not valid.", details={"fields": problems})
    return result


def parse_json_object(raw: bytes | None) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as `{}`."""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.")
    return body


def validate_query(params: dict[str, str] | None, spec: dict[str, Field]) -> dict[str, Any]:
    """Query strings arrive as text; fields that take numbers convert them before validation."""
    data: dict[str, Any] = {}
    for key, value in (params or {}).items():
        field = spec.get(key)
        data[key] = field.from_query(value) if field is not None and field.from_query else value
    return validate(data, spec)
