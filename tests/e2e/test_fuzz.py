"""Schemathesis over the running local stack's own `GET /openapi.json` (issue 13 item 3).

Every operation in the document is fuzzed: public ones without a token, authenticated ones as each of owner,
staff and admin that its `x-roles` admits, with the checks below.

Bounded and reproducible: a few examples per operation and mode (valid, invalid), a fixed seed per operation (the
same inputs on every run, whatever the machine or the order of tests), no deadline and no example database.
`FUZZ_EXAMPLES=<n>` fuzzes harder.

The accounts are made for the fuzz (a community, staff, an owner and a second admin), so lockouts, captchas or
revoked sessions caused by fuzzed input never reach the accounts other e2e tests sign in with.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.routes import ROUTES
from tests.e2e.conftest import StackApi, admin_session
from tests.integration.helpers import Person, activate, login_tokens, make_world, random_account, random_phone

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 5)
ROLES = ("owner", "staff", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]

# Operations that would end or lock the session the fuzz runs as, so that every later operation would be fuzzed
# as a 401 and prove nothing:
# - sign-out: fuzzed authenticated all the same, each call with a session of its own (a fresh sign-in from the
#   trusted device, see `_token`);
# - password change and the start of a phone change count a wrong password as a failed sign-in (the account
#   locks, 423, and can no longer renew its sign-in), and a confirmed phone change revokes the sessions: these
#   are fuzzed without a token only (ignored auth, server errors); their authenticated behaviour is covered by
#   tests/e2e/test_auth_flow.py and the integration tests.
# Admin resetting its own password is not among them: the API must refuse it (409 cannot_reset_self), see
# test_an_admin_cannot_reset_its_own_password below.
OWN_SESSION_PER_CALL = frozenset({"POST /auth/logout"})
ENDS_OWN_SESSION = frozenset({"POST /auth/password", "POST /me/phone", "POST /me/phone/verify"})

@pytest.fixture(scope="module")
def fuzz_people(stack) -> dict[str, Person]:
    """The fuzz's own owner, staff member and admin, signed in."""
    api = StackApi(stack)
    world = make_world(api, admin_session(stack))
    assert world.staff is not None
    return {"owner": world.owner(), "staff": world.staff, "admin": _second_admin(api, world.admin)}


def _second_admin(api: StackApi, token: str) -> Person:
    phone, account = random_phone(), random_account("admin")
    created = api.post("/staff/users", {"name": "fuzz admin", "phone": phone, "role": "admin", "account": account},
                       token=token)
    assert created.status == 201, created.body
    return activate(api, created.body["user_id"], account, created.body["initial_password"], phone)


@pytest.fixture(scope="module")
def api_schema(stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")


# One test per route of the table (the document lists exactly these; the first test checks it). Schemathesis'
# own `from_fixture(...).parametrize()` cannot be used: with pytest 9 it fails on a removed pytest internal
# (`Function._nodeid`), so each test draws its cases from the operation's Hypothesis strategies itself.
# Schemathesis leaves out the operation its document was loaded from (GET /openapi.json, tested in
# test_reference.py).
SCHEMA_SOURCE = "GET /openapi.json"
LABELS = [label for label in (f"{r.method} {r.path}" for r in ROUTES) if label != SCHEMA_SOURCE]


def test_the_document_lists_every_route(api_schema):
    listed = {op.ok().label for op in api_schema.get_all_operations()}
    assert listed == set(LABELS)


def _roles(operation: Any) -> list[str | None]:
    """Who a case is sent as: nobody for a public operation, else each fuzzed role the route admits."""
    definition = operation.definition.raw
    if not definition.get("security") or operation.label in ENDS_OWN_SESSION:
        return [None]
    return [role for role in ROLES if role in definition.get("x-roles", ())]


def _token(stack: Any, person: Person, label: str) -> str:
    if label in OWN_SESSION_PER_CALL:
        return login_tokens(StackApi(stack), person.account, person.password)["access_token"]
    return person.token


def _declares_input(operation: Any) -> bool:
    return any(len(group) for group in (operation.path_parameters, operation.query, operation.headers,
                                         operation.cookies)) or bool(list(operation.body))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("label", LABELS)
def test_the_api_holds_its_contract_under_fuzzing(stack, api_schema, fuzz_people, label, mode):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the document"
    if mode is GenerationMode.NEGATIVE and not _declares_input(operation):
        pytest.skip("takes no parameter and no body: there is no invalid input to make")
    roles = _roles(operation)

    # The seed is the operation's own: the same inputs on every run and in any process, whichever tests ran
    # before (derandomize alone seeds from the test's digest, which covers the strategies' reprs, and those
    # name per-process object addresses).
    @seed(zlib.crc32(f"{label} {mode.value}".encode()))
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def holds(case: Any) -> None:
        for role in roles:
            headers = {"Authorization": f"Bearer {_token(stack, fuzz_people[role], label)}"} if role else None
            case.call_and_validate(headers=headers, checks=CHECKS)

    holds()


def test_an_admin_cannot_reset_its_own_password(stack, fuzz_people):
    """The one route that would end the caller's own session from under it is refused, not fuzzed around."""
    api = StackApi(stack)
    admin = fuzz_people["admin"]
    me = api.get("/me", token=admin.token)
    assert me.status == 200, me.body
    status, body, _ = stack.request("POST", f"/staff/accounts/{me.body['user_id']}/reset-password", {}, admin.token)
    assert status == 409 and body["code"] == "cannot_reset_self", body
    still = api.get("/me", token=admin.token)
    assert still.status == 200, "the refused reset must leave the admin signed in"


def test_staff_cannot_reset_its_own_password_either(stack, fuzz_people):
    api = StackApi(stack)
    staff = fuzz_people["staff"]
    me = api.get("/me", token=staff.token)
    status, body, _ = stack.request("POST", f"/staff/accounts/{me.body['user_id']}/reset-password", {}, staff.token)
    assert status == 409 and body["code"] == "cannot_reset_self", body
    assert api.get("/me", token=staff.token).status == 200


