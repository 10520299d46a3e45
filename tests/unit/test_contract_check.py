"""With CONTRACT_CHECK=1 (the test suite), an answer that does not match its declared type is a failure."""

from __future__ import annotations

from typing import Literal, TypedDict

import pytest

from chalicelib.api.contract import ContractViolation, check_response, endpoint, view_endpoint


class Thing(TypedDict):
    thing_id: str
    status: Literal["open", "closed"]
    note: str | None


@endpoint(response=Thing)
def show_thing() -> Thing:
    return Thing(thing_id="t1", status="open", note=None)


def test_a_conforming_answer_passes():
    spec = view_endpoint(show_thing)
    check_response(spec, {"thing_id": "t1", "status": "closed", "note": "好"})


@pytest.mark.parametrize("answer", [
    {"thing_id": "t1", "status": "gone", "note": None},  # not one of the statuses
    {"thing_id": "t1", "status": "open"},  # a key missing
    {"thing_id": 1, "status": "open", "note": None},  # the wrong type
])
def test_an_answer_off_its_type_is_a_contract_violation(answer):
    with pytest.raises(ContractViolation):
        check_response(view_endpoint(show_thing), answer)
