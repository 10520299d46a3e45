"""Our HS256 tokens against an independent implementation (PyJWT), both ways, and what must be refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chalicelib.adapters.keyring import JwtSigner
from chalicelib.errors import Unauthenticated
from tests.unit.fakes import static_keyring

KEY = b"k" * 32
KEYS = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(KEY).decode()}})


def claims(**overrides):
    now = int(time.time())
    base = {"sub": "u_1", "sid": "s_1", "role": "owner", "iat": now, "exp": now + 900, "typ": "access"}
    return {**base, **overrides}


@pytest.fixture
def signer():
    return JwtSigner(static_keyring(KEYS))


def test_pyjwt_verifies_our_tokens_and_reads_the_kid(signer):
    token = signer.sign(claims())
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    decoded = jwt.decode(token, KEY, algorithms=["HS256"], options={"require": ["exp", "iat", "sub", "sid"]})
    assert decoded["sub"] == "u_1" and decoded["typ"] == "access"


def test_we_verify_pyjwts_tokens(signer):
    token = jwt.encode(claims(), KEY, algorithm="HS256", headers={"kid": "k1"})
    assert signer.verify(token)["sid"] == "s_1"


# Built when the test runs, not when pytest collects it: a token "from the future" must still be from the
# future when it is checked, however long the suite took to get here.
@pytest.mark.parametrize("token", [
    lambda: jwt.encode(claims(), b"z" * 32, algorithm="HS256", headers={"kid": "k1"}),  # another key
    lambda: jwt.encode(claims(), KEY, algorithm="HS256", headers={"kid": "k9"}),  # an unknown kid
    lambda: jwt.encode(claims(), KEY, algorithm="HS256"),  # no kid
    lambda: jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"}),  # alg none
    lambda: jwt.encode(claims(), KEY * 2, algorithm="HS512", headers={"kid": "k1"}),  # another algorithm
    lambda: jwt.encode(claims(exp=int(time.time()) - 1), KEY, algorithm="HS256", headers={"kid": "k1"}),  # expired
    # from the future
    lambda: jwt.encode(claims(iat=int(time.time()) + 600), KEY, algorithm="HS256", headers={"kid": "k1"}),
    lambda: jwt.encode(claims(nbf=int(time.time()) + 600), KEY, algorithm="HS256", headers={"kid": "k1"}),  # not yet
    lambda: jwt.encode(claims(typ="refresh"), KEY, algorithm="HS256", headers={"kid": "k1"}),  # not an access token
    # a time that is not a number
    lambda: jwt.encode(claims(exp="soon"), KEY, algorithm="HS256", headers={"kid": "k1"}),
    lambda: jwt.encode({k: v for k, v in claims().items() if k != "sid"}, KEY, algorithm="HS256",
                       headers={"kid": "k1"}),
    "", "a.b", "a.b.c.d", "not a token", "e30.e30.", "!!.??.**",
])
def test_tokens_that_must_not_pass_are_refused(signer, token):
    with pytest.raises(Unauthenticated):
        signer.verify(token() if callable(token) else token)


def test_a_tampered_claim_is_refused(signer):
    header, _claims, signature = signer.sign(claims()).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(role="admin")).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        signer.verify(f"{header}.{forged}.{signature}")


def test_expiry_follows_the_signers_clock():
    now = [time.time()]
    signer = JwtSigner(static_keyring(KEYS), clock=lambda: now[0])
    token = signer.sign(claims())
    assert signer.verify(token)
    now[0] += 901
    with pytest.raises(Unauthenticated):
        signer.verify(token)
