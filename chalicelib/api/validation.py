"""Edge validation: JSON bodies and query strings become typed values, or a 400 listing every bad field.

Unknown fields are refused (never silently ignored), so a client can't smuggle `role` into a profile update.
Numbers, dates, periods, phones and codes accept ASCII digits only: Python's `\\d`, `str.isdigit()`, `int()` and
`Decimal()` also accept full-width and other Unicode digits, which would let `２０２６-10` bill a period twice.
Text is normalised before it is checked (DEL and C1 controls removed, then trimmed), so a value made only of
invisible characters is reported missing; other C0 controls are refused (multi-line text keeps tab, CR and LF).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from chalicelib.errors import ValidationFailed

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
CN_MOBILE = re.compile(r"\+861[0-9]{10}")
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?")
INTEGER_TEXT = re.compile(r"-?[0-9]{1,18}")
DECIMAL_TEXT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
# Opaque ids are ours (`u_0193f...`, url-safe tokens): ASCII letters, digits, `_` and `-`.
IDENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDENT_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
MAX_JSON_DEPTH = 32
MISSING = object()
# Invisible characters that carry no meaning in our text: removed before any check (DEL and C1 controls).
_INVISIBLE = re.compile("[\x7f-\x9f]")
_C0_SINGLE_LINE = re.compile("[\x00-\x1f]")
_C0_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class FieldProblem(Exception):
    pass


class Field:
    """How one input field is parsed, and the JSON Schema of what it accepts (the OpenAPI document's).

    The schema must never admit less than `parse` accepts: clients generated from the document, and the fuzzer
    that checks it, rely on every value outside the schema being refused. `parse` may be stricter (it also
    normalises text and checks things a schema cannot say). A plain class: every Lambda imports this module.
    """

    __slots__ = ("default", "description", "from_query", "nullable", "parse", "required", "schema", "shape")

    def __init__(self, parse: Callable[[Any], Any], required: bool = True, default: Any = None,
                 from_query: Callable[[str], Any] | None = None, nullable: bool = False, *,
                 schema: dict[str, Any] | None = None, shape: Any = None, description: str | None = None):
        self.parse = parse
        self.required = required
        self.default = default
        self.from_query = from_query  # how a query-string value becomes JSON-like input
        self.nullable = nullable  # in a PATCH, `null` clears the field (else `null` is refused there)
        self.schema = schema or {}
        self.shape = shape  # a nested `contract.Shape` whose schema is referenced (objects, lists of objects)
        self.description = description


class Missing(FieldProblem):
    """The value is absent, or nothing is left of it once normalised."""


def _text(value: Any, min_len: int, max_len: int, strip: bool, multiline: bool = False,
          controls: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldProblem("must be a string")
    if len(value) > max_len:  # as sent, before normalising: the documented maxLength is of the value sent
        raise FieldProblem(f"must be at most {max_len} characters")
    if _SURROGATE.search(value):
        raise FieldProblem("must be valid Unicode text (no unpaired surrogates)")
    if strip:
        value = _INVISIBLE.sub("", value)
    if not controls and (_C0_MULTI_LINE if multiline else _C0_SINGLE_LINE).search(value):
        raise FieldProblem("must not contain control characters" if multiline
                           else "must be a single line without control characters")
    if strip:
        value = value.strip()
    if not value and min_len >= 1:
        raise Missing("is required")
    if len(value) < min_len:
        raise FieldProblem(f"must be at least {min_len} characters")
    if len(value) > max_len:
        raise FieldProblem(f"must be at most {max_len} characters")
    return value


def text(max_len: int = 200, min_len: int = 1, *, required: bool = True, strip: bool = True,
         multiline: bool = False, pattern: re.Pattern[str] | None = None,
         pattern_hint: str = "has an invalid format") -> Field:
    """Single-line text (names, titles) unless `multiline` (bodies, descriptions: tab, CR and LF allowed)."""
    def parse(value: Any) -> str:
        result = _text(value, min_len, max_len, strip, multiline)
        if pattern is not None and not pattern.fullmatch(result):
            raise FieldProblem(pattern_hint)
        return result

    schema: dict[str, Any] = {"type": "string", "minLength": min_len, "maxLength": max_len}
    if pattern is not None:
        schema["pattern"] = anchored(pattern)
    return Field(parse, required, schema=schema)


def anchored(pattern: re.Pattern[str]) -> str:
    """A fullmatch pattern as a JSON Schema (ECMA-262) pattern, which matches anywhere unless anchored."""
    return f"^(?:{pattern.pattern})$"


def ident(*, required: bool = True) -> Field:
    """An opaque id (ours are ASCII): anything else can never name a resource."""
    return text(64, required=required, pattern=IDENT, pattern_hint="must be an id")


def secret_text(max_len: int = 1024, *, required: bool = True) -> Field:
    """Passwords and tokens: kept exactly as typed (no strip, any Unicode but NUL), bounded in size.
    Never normalised here: the password policy owns that, and a stored password must keep matching."""
    def parse(value: Any) -> str:
        if isinstance(value, str) and "\x00" in value:
            raise FieldProblem("must not contain NUL characters")
        return _text(value, 1, max_len, strip=False, controls=True)

    return Field(parse, required, schema={"type": "string", "minLength": 1, "maxLength": max_len})


def about(field: Field, description: str) -> Field:
    """Describe a field in the API document (what it means, not its type: the schema says that)."""
    field.description = description
    return field


def nullable(field: Field) -> Field:
    """Mark a field a PATCH may clear with `null`."""
    field.nullable = True
    return field


def choice(options: Iterable[str], *, required: bool = True, default: str | None = None) -> Field:
    allowed = tuple(options)

    def parse(value: Any) -> str:
        if value not in allowed:
            raise FieldProblem(f"must be one of {', '.join(allowed)}")
        return value

    return Field(parse, required, default, schema={"type": "string", "enum": list(allowed)})


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

    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        schema["default"] = default
    return Field(parse, required, default, from_query=_query_int, schema=schema)


def _query_int(value: str) -> Any:
    # Only ASCII digits: int() would also take "１２", "1_000" and " 12 ".
    return int(value) if INTEGER_TEXT.fullmatch(value) else value


def boolean(*, required: bool = False, default: bool | None = None) -> Field:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise FieldProblem("must be true or false")
        return value

    return Field(parse, required, default, from_query=_query_bool, schema={"type": "boolean"})


def _query_bool(value: str) -> Any:
    return {"true": True, "false": False}.get(value, value)


def decimal(places: int, minimum: Decimal, maximum: Decimal, *, required: bool = True) -> Field:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise FieldProblem("must be a number")
        if isinstance(value, str) and not DECIMAL_TEXT.fullmatch(value):
            raise FieldProblem("must be a number written with ASCII digits, such as 89.56")
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

    bounds = {"minimum": _number(minimum), "maximum": _number(maximum)}
    return Field(parse, required, schema={"anyOf": [
        {"type": "number", **bounds},
        {"type": "string", "pattern": anchored(DECIMAL_TEXT), "description": "the same number as text"}]},
        description=f"at most {places} decimal places")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def phone(*, required: bool = True) -> Field:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or not E164.fullmatch(value):
            raise FieldProblem("must be an E.164 phone number such as +8613800138000")
        if value.startswith("+86") and not CN_MOBILE.fullmatch(value):
            raise FieldProblem("must be a valid mainland China mobile number")
        return value

    return Field(parse, required, schema={"type": "string", "pattern": anchored(E164),
                                          "examples": ["+8613800138000"]})


def email(*, required: bool = False) -> Field:
    pattern = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
    return text(254, required=required, pattern=pattern, pattern_hint="must be an email address")


def id_list(min_items: int = 1, max_items: int = 50, *, required: bool = True) -> Field:
    def parse(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise FieldProblem("must be a list")
        if not min_items <= len(value) <= max_items:
            raise FieldProblem(f"must have {min_items} to {max_items} items")
        if not all(isinstance(v, str) and IDENT.fullmatch(v) for v in value):
            raise FieldProblem("must be a list of ids")
        if len(set(value)) != len(value):
            raise FieldProblem("must not repeat an id")
        return tuple(value)

    return Field(parse, required, schema={"type": "array", "minItems": min_items, "maxItems": max_items,
                                          "uniqueItems": True, "items": IDENT_SCHEMA})


def date_field(*, required: bool = True) -> Field:
    def parse(value: Any) -> date:
        if not isinstance(value, str) or not DATE.fullmatch(value):
            raise FieldProblem("must be a date YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise FieldProblem("must be a valid date") from None

    return Field(parse, required, schema={"type": "string", "format": "date", "pattern": anchored(DATE)})


def timestamp(*, required: bool = True) -> Field:
    def parse(value: Any) -> datetime:
        if not isinstance(value, str) or not RFC3339.fullmatch(value):
            raise FieldProblem("must be an RFC 3339 time such as 2026-11-25T06:00:00Z")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldProblem("must be an RFC 3339 time such as 2026-11-25T06:00:00Z") from None
        if parsed.tzinfo is None:
            raise FieldProblem("must carry a time zone (Z or an offset)")
        return parsed.astimezone(UTC)

    return Field(parse, required, schema={"type": "string", "format": "date-time", "pattern": anchored(RFC3339)})


def period(*, required: bool = True) -> Field:
    return text(7, required=required, pattern=PERIOD, pattern_hint="must be a billing period YYYY-MM")


def string_set(options: Iterable[str], max_items: int | None = None, *, required: bool = False,
               what: str = "value") -> Field:
    """A list of distinct values from a fixed vocabulary (tags and the like); parsed to a frozenset."""
    allowed = tuple(options)
    limit = len(allowed) if max_items is None else max_items

    def parse(value: Any) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise FieldProblem(f"must be a list of {what}s")
        unknown = [t for t in value if t not in allowed]
        if unknown:
            raise FieldProblem(f"unknown {what}s {', '.join(map(_printable, unknown))}; allowed: {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise FieldProblem(f"must not repeat a {what}")
        if len(value) > limit:
            raise FieldProblem(f"must have at most {limit} items")
        return frozenset(value)

    return Field(parse, required, schema={"type": "array", "uniqueItems": True, "maxItems": limit,
                                          "items": {"type": "string", "enum": list(allowed)}})


def flags(keys: Iterable[str], *, required: bool = False) -> Field:
    """A non-empty object of known boolean switches (notification preferences and the like)."""
    allowed = tuple(keys)

    def parse(value: Any) -> dict[str, bool]:
        if not isinstance(value, dict) or not value:
            raise FieldProblem(f"must be an object with some of {', '.join(allowed)}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise FieldProblem(f"unknown keys {', '.join(map(_printable, unknown))}; allowed: {', '.join(allowed)}")
        if not all(isinstance(b, bool) for b in value.values()):
            raise FieldProblem("values must be true or false")
        return dict(value)

    return Field(parse, required, schema={"type": "object", "minProperties": 1, "additionalProperties": False,
                                          "properties": {k: {"type": "boolean"} for k in allowed}})


def _sub_problems(error: ValidationFailed) -> str:
    problems = (error.details or {}).get("fields", {})
    return "; ".join(f"{k} {p}" for k, p in problems.items()) or error.message


def nested(shape: type[Shape], *, required: bool = True, default: Any = None) -> Field:
    """An object validated against `shape`; its problems are reported as this field's."""
    def parse(value: Any) -> Shape:
        if not isinstance(value, dict):
            raise FieldProblem("must be an object")
        try:
            return shape.parse(value)
        except ValidationFailed as error:
            raise FieldProblem(_sub_problems(error)) from None

    return Field(parse, required, default, shape=shape)


def items(shape: type[Shape], min_items: int, max_items: int, *, required: bool = True) -> Field:
    """A list of objects, each validated against `shape` (problems reported as `item i: ...`)."""
    def parse(value: Any) -> tuple[Shape, ...]:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise FieldProblem(f"must be a list of {min_items} to {max_items} items")
        parsed = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise FieldProblem(f"item {i} must be an object")
            try:
                parsed.append(shape.parse(item))
            except ValidationFailed as error:
                raise FieldProblem(f"item {i}: {(error.details or {}).get('fields', 'is not valid')}") from None
        return tuple(parsed)

    return Field(parse, required, shape=shape,
                 schema={"type": "array", "minItems": min_items, "maxItems": max_items})


class Shape:
    """A request type: its fields (class attributes made by this module's factories) validate the input and
    describe it. `Shape.parse(data)` gives an instance whose attributes are the parsed values.

        class NewReading(Shape):
            unit_id = ident()
            kind = choice(METER_KINDS)

    A subclass with `patch = True` has PATCH semantics (see `validate`). Attributes not sent hold the field's
    default; `sent` names the fields the client sent.
    """

    fields: ClassVar[dict[str, Field]] = {}
    patch: ClassVar[bool] = False
    # Header shapes: the header each field is read from (`{"idempotency_key": "Idempotency-Key"}`).
    headers: ClassVar[dict[str, str]] = {}
    sent: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = {name: value for name, value in vars(cls).items() if isinstance(value, Field)}
        cls.fields = {**cls.fields, **own}

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Any:
        instance = cls.__new__(cls)
        instance.__dict__.update(validate(data, cls.fields, patch=cls.patch))
        instance.sent = frozenset(k for k in data if k in cls.fields)
        return instance

    @classmethod
    def parse_query(cls, params: dict[str, str] | None) -> Any:
        data: dict[str, Any] = {}
        for key, value in (params or {}).items():
            field = cls.fields.get(key)
            data[key] = field.from_query(value) if field is not None and field.from_query else value
        return cls.parse(data)

    @classmethod
    def parse_headers(cls, headers: Any) -> Any:
        data = {name: headers.get(header.lower()) for name, header in cls.headers.items()}
        return cls.parse({k: value for k, value in data.items() if value is not None})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.fields}

    def __repr__(self) -> str:  # never print values: shapes carry passwords and codes
        return f"<{type(self).__name__} {sorted(self.sent)}>"


def validate(data: dict[str, Any], spec: dict[str, Field], *, patch: bool = False) -> dict[str, Any]:
    """Check `data` against `spec`: every problem is reported at once, unknown keys included.

    `null` counts as absent, except in a `patch`: there it clears a `nullable` field (its value is `CLEAR`)
    and is refused for any other field, so a client never believes a null was applied when it was ignored.
    """
    problems: dict[str, str] = {}
    result: dict[str, Any] = {}
    for key in data:
        if key not in spec:
            problems[_printable(key)] = "is not a known field"
    for name, field in spec.items():
        value = data.get(name, MISSING)
        if patch and value is None:
            if field.nullable:
                result[name] = CLEAR
            else:
                problems[name] = "must not be null"
            continue
        if value is MISSING or value is None:
            if field.required:
                problems[name] = "is required"
            result[name] = field.default
            continue
        try:
            result[name] = field.parse(value)
        except Missing:
            # Sent but empty once normalised: required fields report it like an absent value.
            problems[name] = "is required" if field.required else "must not be empty"
        except FieldProblem as problem:
            problems[name] = str(problem)
    if problems:
        raise ValidationFailed("Some fields are not valid.", details={"fields": problems})
    return result


class _Clear:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR: Any = _Clear()  # what `validate(..., patch=True)` returns for a nullable field sent as `null`

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays/objects deeper than `limit`, found without parsing it (a parser
    recurses per level: `[[[[...]]]]` 10,000 deep fits in 64 KiB and exhausts Python's stack)."""
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET):
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_json_depth(raw: bytes) -> None:
    """Refuse a JSON body nested deeper than MAX_JSON_DEPTH (the middleware calls this for every body)."""
    if raw.lstrip()[:1] in (b"{", b"[") and too_deep(raw):
        raise ValidationFailed("The body is nested too deeply.", details={"max_depth": MAX_JSON_DEPTH})


def _printable(name: str) -> str:
    # A name we echo back must encode: an unpaired surrogate is shown as its escape.
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _first_surrogate(value: Any, path: str) -> str | None:
    """The path of the first string (key or value) holding an unpaired surrogate, if any."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{_printable(key)}" if path else _printable(key)
            if _SURROGATE.search(key):
                return where
            found = _first_surrogate(item, where)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_surrogate(item, f"{path}[{i}]")
            if found:
                return found
    return None


def parse_json_object(raw: bytes | None) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as `{}`.

    JSON may carry `\\ud800` escapes that decode to unpaired surrogates: valid for the parser, but no such
    text can be stored or encoded later, so it is refused here, naming the field.
    """
    if not raw:
        return {}
    check_json_depth(raw)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.")
    bad = _first_surrogate(body, "")
    if bad is not None:
        raise ValidationFailed("Some fields are not valid.",
                               details={"fields": {bad: "must be valid Unicode text (no unpaired surrogates)"}})
    return body
