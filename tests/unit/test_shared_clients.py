"""One botocore session and one client per service for the whole container (deps.aws_client), PynamoDB's
models and transactions included. No network: building a client opens no connection."""

from __future__ import annotations

import botocore.exceptions
import botocore.session
import pytest

from chalicelib import deps


class Sent(Exception):
    """Raised by a hook on the shared client: the call went through it."""


@pytest.fixture
def sessions(monkeypatch):
    """Every botocore session built from now on (a fresh container: nothing built yet)."""
    built: list[botocore.session.Session] = []
    original = botocore.session.Session.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "__init__", counted)
    deps.reset()
    yield built
    deps.reset()


def _models():
    from chalicelib.resources import table_models

    return table_models()


def test_every_model_transactions_and_adapters_share_one_session_and_one_dynamodb_client(sessions):
    from chalicelib.adapters.dynamo.repositories import connection

    dynamodb = deps.aws_client("dynamodb")
    assert all(model._get_connection().connection.client is dynamodb for model in _models())
    assert connection().client is dynamodb
    for service in ("sqs", "sns", "s3", "secretsmanager", "kms"):
        assert deps.aws_client(service) is deps.aws_client(service)
    assert len(sessions) == 1


def test_a_models_calls_go_through_the_shared_client(sessions):
    from chalicelib.adapters.dynamo.models import AccountModel

    def intercept(model, **_):
        raise Sent(model.name)

    deps.aws_client("dynamodb").meta.events.register("before-call.dynamodb.GetItem", intercept)
    with pytest.raises(Sent, match="GetItem"):
        AccountModel.get("account#nobody")
    assert len(sessions) == 1


def _sent_unchecked(client, operation: str, params: dict) -> bool:
    """Whether `client` sends `params` (which botocore's validation would refuse) without checking them."""
    def intercept(model, **_):
        raise Sent(model.name)

    client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", intercept)
    try:
        client._make_api_call(operation, params)
    except Sent:
        return True
    except botocore.exceptions.ParamValidationError:
        return False
    raise AssertionError("the call returned")


def test_the_shared_dynamodb_client_keeps_pynamodbs_settings(sessions):
    dynamodb = deps.aws_client("dynamodb")
    assert _sent_unchecked(dynamodb, "GetItem", {"TableName": "t"})  # no Key: PynamoDB builds requests itself
    assert not _sent_unchecked(deps.aws_client("sqs"), "SendMessage", {"QueueUrl": "q"})  # others validate
    config = dynamodb.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 5)
    assert config.retries == {"total_max_attempts": 4, "mode": "standard"}
    meta = _models()[0].Meta
    assert (meta.connect_timeout_seconds, meta.read_timeout_seconds, meta.max_retry_attempts) == (2, 5, 3)


def test_reset_gives_every_model_the_new_client(sessions):
    from chalicelib.adapters.dynamo.models import AccountModel

    before = AccountModel._get_connection().connection.client
    deps.reset()
    after = AccountModel._get_connection().connection.client
    assert after is not before
    assert after is deps.aws_client("dynamodb")
    assert len(sessions) == 2
