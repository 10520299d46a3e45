from __future__ import annotations

from chalicelib.observability import REDACTED, mask_phone, redact


def test_redact_blanks_sensitive_keys_at_any_depth():
    record = {"password": "p", "nested": {"refresh_token": "t", "code": "123456", "ok": 1}, "status_code": 200}
    assert redact(record) == {"password": REDACTED, "nested": {"refresh_token": REDACTED, "code": REDACTED, "ok": 1},
                              "status_code": 200}


def test_redact_masks_phones_and_tokens_inside_text():
    text = "sent to +8613800138000 and 13900001111 with Bearer abc.def eyJhbGciOi.eyJzdWIi.sig"
    cleaned = redact(text)
    assert "13800138000" not in cleaned and "13900001111" not in cleaned and "eyJ" not in cleaned
    assert "****8000" in cleaned


def test_redact_leaves_ids_and_times_alone():
    text = "request 4818d0d1-52ba-4938-b123-13800138000a at 2026-11-25T06:00:00Z"
    assert redact(text) == text


def test_mask_phone_uses_the_display_form():
    assert mask_phone("+8613800138000") == "+86 138****8000"
