"""The edge validators (chalicelib/api/validation.py): typed values or a 400 naming every bad field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from chalicelib.api import validation as v
from chalicelib.errors import ValidationFailed


def _problems(data: dict, spec: dict, **kw) -> dict:
    with pytest.raises(ValidationFailed) as raised:
        v.validate(data, spec, **kw)
    return raised.value.details["fields"]


@pytest.mark.parametrize(("field", "value"), [
    (v.phone(), "+86１３８００１３８０００"), (v.phone(), "+8613８00138000"), (v.phone(), "+٨٦13800138000"),
    (v.period(), "２０２６-10"), (v.period(), "2026-1٠"), (v.date_field(), "２０２６-10-01"),
    (v.date_field(), "2026-10-0１"), (v.timestamp(), "２０２６-11-25T06:00:00Z"),
    (v.timestamp(), "2026-11-25T0６:00:00Z"), (v.timestamp(), "2026-W48-3T06:00:00Z"),
    (v.decimal(2, Decimal(0), Decimal(1000)), "８９.５６"), (v.decimal(2, Decimal(0), Decimal(1000)), "1_0"),
    (v.decimal(2, Decimal(0), Decimal(1000)), " 12"), (v.ident(), "u_１"), (v.id_list(), ["u_１"]),
    (v.text(6, pattern=v.re.compile("[0-9]{6}")), "１２３４５６"),
])
def test_validation_only_ascii_digits_count_as_digits(field, value):
    assert "x" in _problems({"x": value}, {"x": field})


def test_validation_ascii_numbers_dates_and_times_parse():
    spec = {"p": v.phone(), "m": v.period(), "d": v.date_field(), "t": v.timestamp(),
            "a": v.decimal(2, Decimal(0), Decimal(1000)), "i": v.ident()}
    data = {"p": "+8613800138000", "m": "2026-10", "d": "2026-10-01", "t": "2026-11-25T14:00:00+08:00",
            "a": "89.56", "i": "u_0193f"}
    assert v.validate(data, spec) == {"p": "+8613800138000", "m": "2026-10", "d": date(2026, 10, 1),
                                      "t": datetime(2026, 11, 25, 6, tzinfo=UTC), "a": Decimal("89.56"),
                                      "i": "u_0193f"}


@pytest.mark.parametrize(("raw", "expected"), [("20", 20), ("２０", "２０"), ("1_0", "1_0"), (" 5", " 5"), ("-3", -3)])
def test_validation_query_integers_convert_only_ascii_digits(raw, expected):
    assert v._query_int(raw) == expected
    if isinstance(expected, str):
        assert "limit" in _problems({"limit": v._query_int(raw)}, {"limit": v.integer(1, 100)})


@pytest.mark.parametrize(("value", "multiline", "problem"), [
    ("a\x01b", False, "must be a single line without control characters"),
    ("a\nb", False, "must be a single line without control characters"),
    ("a\tb", False, "must be a single line without control characters"),
    ("a\x00b", True, "must not contain control characters"),
    ("a\x1bb", True, "must not contain control characters"),
    ("\x7f\x85\x9f", False, "is required"),
    ("  \x80  ", True, "is required"),
    ("\ud800", False, "must be valid Unicode text (no unpaired surrogates)"),
])
def test_validation_text_refuses_control_characters_and_reports_invisible_values_missing(value, multiline, problem):
    assert _problems({"x": value}, {"x": v.text(50, multiline=multiline)}) == {"x": problem}


def test_validation_text_keeps_line_breaks_in_multi_line_text_and_drops_del_and_c1():
    spec = {"title": v.text(50), "body": v.text(50, multiline=True)}
    got = v.validate({"title": " 停\x7f车\x9b位 ", "body": "一\r\n二\t三"}, spec)
    assert got == {"title": "停车位", "body": "一\r\n二\t三"}


def test_validation_an_optional_text_left_empty_is_still_refused():
    assert _problems({"x": "\x85"}, {"x": v.text(10, required=False)}) == {"x": "must not be empty"}


def test_validation_patch_refuses_null_unless_the_field_is_nullable():
    spec = {"email": v.nullable(v.email()), "tags": v.id_list(0, 5, required=False)}
    assert _problems({"tags": None}, spec, patch=True) == {"tags": "must not be null"}
    assert v.validate({"email": None}, spec, patch=True)["email"] is v.CLEAR
    assert v.validate({"tags": None}, spec) == {"email": None, "tags": None}  # outside a PATCH null = absent


@pytest.mark.parametrize("raw", [b"[" * 33 + b"]" * 33, b'{"a":' * 40 + b"1" + b"}" * 40,
                                 b'{"a": [' + b"[" * 10_000 + b"]" * 10_000 + b"]}", b"[" * 50])
def test_validation_json_nested_too_deeply_is_refused_before_parsing(raw):
    with pytest.raises(ValidationFailed) as raised:
        v.parse_json_object(raw)
    assert raised.value.details == {"max_depth": v.MAX_JSON_DEPTH}


def test_validation_json_brackets_inside_strings_are_not_nesting():
    raw = b'{"a": "' + b"[" * 100 + b'\\"' + b"{" * 100 + b'", "b": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert v.parse_json_object(raw)["a"] == "[" * 100 + '"' + "{" * 100
    assert not v.too_deep(b"[" * 32 + b"]" * 32)


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"name": "\\ud800"}', "name"), (b'{"items": [{"name": "ok"}, {"name": "a\\udfffb"}]}', "items[1].name"),
    (b'{"\\udc00": 1}', "\\udc00"),
])
def test_validation_json_unpaired_surrogates_are_refused_naming_the_field(raw, field):
    with pytest.raises(ValidationFailed) as raised:
        v.parse_json_object(raw)
    assert list(raised.value.details["fields"]) == [field]


def test_validation_json_paired_surrogate_escapes_are_ordinary_text():
    assert v.parse_json_object(b'{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


def test_validation_the_cli_billing_run_takes_only_an_ascii_period(capsys):
    from chalicelib.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["billing-run", "--community", "c_1", "--period", "2026-10"]).period == "2026-10"
    with pytest.raises(SystemExit):
        parser.parse_args(["billing-run", "--community", "c_1", "--period", "２０２６-10"])
    assert "YYYY-MM" in capsys.readouterr().err


def test_validation_secrets_are_kept_exactly_but_never_hold_nul():
    spec = {"password": v.secret_text(64)}
    assert v.validate({"password": " 密码\x01\x85 "}, spec) == {"password": " 密码\x01\x85 "}
    assert _problems({"password": "a\x00b"}, spec) == {"password": "must not contain NUL characters"}
    assert "unpaired surrogates" in _problems({"password": "a\ud800"}, spec)["password"]
