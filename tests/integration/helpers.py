"""Shared helpers for integration tests: a thin HTTP wrapper, login, and a fresh community per test."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ADMIN_PASSWORD = "local-admin-pass"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Api:
    def __init__(self, client: Any):
        self.client = client

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = self.client.http.request(method, path, headers=all_headers, body=payload)
        text = response.body or b""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()}, text)

    def sms_messages(self) -> list[tuple[str, str]]:
        """Every SMS sent so far, (phone, text), oldest first — from the in-process emulator."""
        return sms_messages()

    def get(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return self.call("GET", path, token=token, **kw)

    def post(self, path: str, body: Any = None, token: str | None = None, **kw: Any) -> Reply:
        return self.call("POST", path, body if body is not None else {}, token=token, **kw)

    def patch(self, path: str, body: Any, token: str | None = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, token=token, **kw)

    def put(self, path: str, body: Any, token: str | None = None, **kw: Any) -> Reply:
        return self.call("PUT", path, body, token=token, **kw)

    def delete(self, path: str, token: str | None = None, **kw: Any) -> Reply:
        return self.call("DELETE", path, token=token, **kw)


def random_phone() -> str:
    return f"+86139{secrets.randbelow(10**8):08d}"


def random_account(prefix: str = "user") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


# Device tokens from earlier sign-ins, so repeated logins of one account skip the SMS step (and its limits).
_TRUSTED_DEVICES: dict[str, str] = {}


def sms_messages() -> list[tuple[str, str]]:
    """Every SMS the app sent through SNS in the emulator, oldest first: (phone, text)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def sms_inbox(phone: str) -> list[str]:
    return [text for to, text in sms_messages() if to == phone]


def matches_hint(phone: str, hint: str) -> bool:
    """`+86 139****1234` matches `+8613900001234`."""
    head, _, tail = hint.replace(" ", "").partition("****")
    return phone.startswith(head) and phone.endswith(tail)


def latest_code(hint: str, api: Any = None) -> str:
    """The newest 6-digit code texted to the phone behind `hint`, as the phone's owner would read it."""
    for to, text in reversed(api.sms_messages() if api is not None else sms_messages()):
        if matches_hint(to, hint):
            found = re.search(r"验证码(\d{6})", text)
            if found:
                return found.group(1)
    raise AssertionError(f"no code was texted to {hint}")


def login_reply(api: Api, account: str, password: str, **extra: Any) -> Reply:
    return api.post("/auth/login", {"account": account, "password": password, **extra})


def complete_mfa(api: Api, challenge: dict[str, Any], trust_device: bool = True) -> Reply:
    sent = api.post("/auth/sms", {"challenge_id": challenge["challenge_id"]})
    assert sent.status == 202, sent.body
    code = latest_code(challenge["phone_hint"], api)
    return api.post("/auth/verify", {"challenge_id": challenge["challenge_id"], "method": "sms", "code": code,
                                     "trust_device": trust_device})


def login_tokens(api: Api, account: str, password: str) -> dict[str, Any]:
    """Sign in all the way (password, then the texted code unless this device is trusted): the token answer."""
    device = _TRUSTED_DEVICES.get(account)
    reply = login_reply(api, account, password, **({"device_token": device} if device else {}))
    assert reply.status == 200, reply.body
    if reply.body.get("status") == "mfa_required":
        reply = complete_mfa(api, reply.body)
        assert reply.status == 200, reply.body
        _TRUSTED_DEVICES[account] = reply.body["device_token"]
    return reply.body


def login(api: Api, account: str, password: str) -> str:
    """Sign in all the way and return an access token."""
    return login_tokens(api, account, password)["access_token"]


def _monotonic() -> float:
    """The clock `FreshTokens` ages tokens by (a module function, so a test can move it with time-travel)."""
    return time.monotonic()


class FreshTokens:
    """A signed-in account whose access token is always fresh, for fixtures that outlive one test.

    Access tokens live 15 minutes; a suite on a slow machine runs far longer. Once half the token's lifetime
    has passed, `token` rotates the refresh token (POST /auth/refresh) — or, if the session is gone, signs in
    again from this device, which is trusted — so a token handed out is good for at least 7 more minutes.
    """

    def __init__(self, api: Any, account: str, password: str, answer: dict[str, Any] | None = None):
        self.api = api
        self.account = account
        self.password = password
        self._lock = threading.Lock()
        self._take(answer or login_tokens(api, account, password))

    def _take(self, answer: dict[str, Any]) -> None:
        self._answer = answer
        self._renew_at = _monotonic() + answer["expires_in"] / 2

    @property
    def token(self) -> str:
        with self._lock:
            if _monotonic() >= self._renew_at:
                self._renew()
            return self._answer["access_token"]

    def _renew(self) -> None:
        rotated = self.api.post("/auth/refresh", {"refresh_token": self._answer["refresh_token"]})
        self._take(rotated.body if rotated.status == 200 else login_tokens(self.api, self.account, self.password))


@dataclass
class Person:
    user_id: str
    account: str
    password: str
    phone: str
    session: FreshTokens

    @property
    def token(self) -> str:
        """An access token of this person's sign-in, renewed when it gets old."""
        return self.session.token


@dataclass
class World:
    """A fresh community with two buildings, three units, a staff member and a technician."""

    api: Api
    admin_session: FreshTokens | str  # a `str` is a token its maker keeps fresh
    community_id: str
    building_ids: list[str]
    unit_ids: list[str]
    staff: Person | None = None
    technician: Person | None = None
    owners: list[Person] = field(default_factory=list)

    @property
    def admin(self) -> str:
        """The admin's access token."""
        return self.admin_session if isinstance(self.admin_session, str) else self.admin_session.token

    def owner(self, unit_ids: list[str] | None = None, name: str = "张三") -> Person:
        """Issue an owner account for `unit_ids` (default: the first unit), sign in and set a password."""
        phone = random_phone()
        account = random_account("owner")
        created = self.api.post("/staff/owners", {"name": name, "phone": phone, "account": account,
                                                  "unit_ids": unit_ids or [self.unit_ids[0]]}, token=self.admin)
        assert created.status == 201, created.body
        person = activate(self.api, created.body["user_id"], account, created.body["initial_password"], phone)
        self.owners.append(person)
        return person


def activate(api: Api, user_id: str, account: str, initial_password: str, phone: str) -> Person:
    """First sign-in of a new account: replace the initial password as the API requires."""
    answer = login_tokens(api, account, initial_password)
    password = f"new-{secrets.token_hex(8)}-pass"
    changed = api.post("/auth/password", {"old_password": initial_password, "new_password": password},
                       token=answer["access_token"])
    assert changed.status == 204, changed.body
    return Person(user_id, account, password, phone, FreshTokens(api, account, password, answer))


def make_world(api: Api, admin: FreshTokens | str) -> World:
    """A fresh community built by the admin (`admin`: its sign-in, or an access token its caller keeps fresh)."""
    signed_in = admin
    admin = admin if isinstance(admin, str) else admin.token
    community = api.post("/staff/communities", {"name": "测试小区", "address": "上海市测试路1号"}, token=admin)
    assert community.status == 201, community.body
    cid = community.body["community_id"]
    buildings = [api.post(f"/staff/communities/{cid}/buildings", {"name": n}, token=admin).body["building_id"]
                 for n in ("1号楼", "2号楼")]
    units = []
    for building, unit_no in ((buildings[0], "101"), (buildings[0], "102"), (buildings[1], "201")):
        reply = api.post("/staff/units", {"community_id": cid, "building_id": building, "unit_no": unit_no,
                                          "floor": 1, "area_m2": 89.56, "layout": "3室2厅1卫"}, token=admin)
        assert reply.status == 201, reply.body
        units.append(reply.body["unit_id"])
    world = World(api, signed_in, cid, buildings, units)
    for role in ("staff", "technician"):
        phone, account = random_phone(), random_account(role)
        created = api.post("/staff/users", {"name": role, "phone": phone, "role": role, "account": account,
                                            "community_ids": [cid]}, token=admin)
        assert created.status == 201, created.body
        person = activate(api, created.body["user_id"], account, created.body["initial_password"], phone)
        setattr(world, role, person)
    return world


def take_jobs(match: str, queue: str = "jobs") -> list[dict[str, Any]]:
    """The messages on an emulated queue whose body contains `match`, as parsed JSON.

    Integration tests run no consumer, so other tests' jobs pile up: everything received here is deleted,
    and the queue is read until empty so a test's own message is never hidden behind older ones.
    """
    from chalicelib import deps
    from chalicelib.settings import get_settings

    sqs = deps.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().name(queue))["QueueUrl"]
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found += [json.loads(m["Body"]) for m in messages if match in m["Body"]]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(messages)])


@contextmanager
def answers_lost(client: Any, operation: str, table: str | None = None) -> Iterator[dict[str, int]]:
    """Every `operation` call on the botocore `client` (on `table` only, if given: every table shares one
    client) reaches the emulator and is applied, but its answer is lost on the way back: botocore retries it,
    exactly as after a read timeout or a reset connection.

    Botocore asks its `needs-retry` handlers after each attempt; this one, asked first, says "retry now" after
    a successful first attempt. Yields a counter of the answers lost.
    """
    lost = {"answers": 0}

    def on_table(request_dict: Any) -> bool:
        return table is None or json.loads(request_dict["body"] or b"{}").get("TableName") == table

    def lose_first_answer(attempts: int, response: Any, request_dict: Any = None, **_: Any) -> int | None:
        if attempts == 1 and response is not None and response[0].status_code == 200 and on_table(request_dict):
            lost["answers"] += 1
            return 0
        return None

    event, unique_id = f"needs-retry.dynamodb.{operation}", f"answers-lost-{operation}"
    client.meta.events.register_first(event, lose_first_answer, unique_id=unique_id)
    try:
        yield lost
    finally:
        client.meta.events.unregister(event, unique_id=unique_id)


def model_client(model: Any) -> Any:
    """The botocore client a PynamoDB model's single-item calls go through (the one every table shares)."""
    return model._get_connection().connection.client


def model_answers_lost(model: Any, operation: str) -> Any:
    """`answers_lost` for the `operation` calls of one PynamoDB model's table."""
    return answers_lost(model_client(model), operation, table=model.Meta.table_name)


RACE_HANG_GUARD_SECONDS = 600  # only a broken test waits this long at a barrier; load never does


@contextmanager
def read_together(owner: Any, name: str, parties: int) -> Iterator[None]:
    """While inside, the first call each of `parties` threads makes to `owner.name` returns only once all of
    them have made it: every racer has read the state before any of them writes — the interleaving a race
    needs — whatever the scheduler does. Outside, `owner.name` is back to normal."""
    barrier = threading.Barrier(parties, timeout=RACE_HANG_GUARD_SECONDS)
    original = getattr(owner, name)
    shadowed = name in vars(owner)
    seen = threading.local()

    def first_together(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not getattr(seen, "done", False):
            seen.done = True
            barrier.wait()
        return result

    setattr(owner, name, first_together)
    try:
        yield
    finally:
        if shadowed:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def race(attempts: list[Callable[[], Any]]) -> list[Any]:
    """Run each attempt in its own thread, all released at once; their results (or exceptions), in order."""
    gate = threading.Barrier(len(attempts), timeout=RACE_HANG_GUARD_SECONDS)
    results: list[Any] = [None] * len(attempts)

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = attempts[i]()
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
