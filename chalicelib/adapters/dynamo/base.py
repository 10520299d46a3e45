"""Shared PynamoDB plumbing: per-stage table names, the base model, retry-safe conditional writes and error
translation."""

from __future__ import annotations

import os
import secrets
from typing import Any

from pynamodb import models
from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.connection import Connection, TableConnection
from pynamodb.constants import NUMBER
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib import deps
from chalicelib.observability import logger
from chalicelib.settings import resource_name


def table_meta(logical: str) -> type:
    """A PynamoDB `Meta` for the table `logical` of the current stage (on-demand capacity)."""

    class Meta:
        table_name = resource_name(logical)
        region = os.environ["AWS_DEFAULT_REGION"]
        billing_mode = "PAY_PER_REQUEST"
        # Lambda reuses connections; keep retries bounded so a slow table fails fast. The shared client
        # (`SharedClientConnection`) is built with these same bounds.
        max_retry_attempts = deps.DYNAMODB_MAX_RETRY_ATTEMPTS
        connect_timeout_seconds = deps.DYNAMODB_CONNECT_TIMEOUT_SECONDS
        read_timeout_seconds = deps.DYNAMODB_READ_TIMEOUT_SECONDS

    Meta.logical_name = logical  # type: ignore[attr-defined]
    return Meta


class IntAttribute(Attribute[int]):
    """An integer Number that never round-trips through float."""

    attr_type = NUMBER

    def serialize(self, value: int) -> str:
        return str(int(value))

    def deserialize(self, value: str) -> int:
        return int(value)


class SharedClientConnection(Connection):
    """A PynamoDB connection that sends through the container's one DynamoDB client (`deps.aws_client`).

    PynamoDB's own connection builds a botocore session and client per model class: each loads DynamoDB's
    service model and endpoint rules again (tens of milliseconds and megabytes per table). This one asks deps
    on every call, so `deps.reset()` (tests, a new emulator) reaches every model at once."""

    @property
    def session(self) -> Any:
        return deps.botocore_session()

    @property
    def client(self) -> Any:
        return deps.aws_client("dynamodb")


class Model(models.Model):
    """The base of every table's model. `write_token` names the conditional write that last stored the item
    (see `save_once`); it is only ever compared, never shown."""

    write_token = UnicodeAttribute(null=True)

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # PynamoDB builds (and caches on the class) the table connection with the table's schema; only its
        # botocore side is swapped, through the public `connection` attribute and meta-table methods.
        table = super()._get_connection()
        if not isinstance(table.connection, SharedClientConnection):
            _check_shareable(cls)
            shared = SharedClientConnection(region=cls.Meta.region)
            shared.add_meta_table(table.get_meta_table())
            table.connection = shared
        return table


# Per-model client settings the shared client cannot honour (it is one client for every table).
_PER_MODEL_CLIENT_SETTINGS = ("host", "extra_headers", "aws_access_key_id", "aws_secret_access_key",
                              "aws_session_token")


def _check_shareable(model: type[Model]) -> None:
    declared = [name for name in _PER_MODEL_CLIENT_SETTINGS if getattr(model.Meta, name, None)]
    if declared:
        raise TypeError(f"{model.__name__}.Meta sets {declared}: every model shares one DynamoDB client")


def save_once(model: Model, condition: Condition) -> None:
    """`model.save(condition=condition)` that a retry of its own cannot turn into a conflict.

    botocore retries a PutItem whose answer was lost (a read timeout, a reset connection) although DynamoDB
    had applied it; the retry then fails the item's own `attribute_not_exists` and the create would look like
    a conflict. Every such write carries a fresh token: on a conditional failure the item is read back
    (consistent read) and, if it holds our token, the write did happen and this is a success. Anything else is
    the real conflict and `PutError` is raised as before.
    """
    token = secrets.token_urlsafe(12)
    model.write_token = token
    try:
        model.save(condition=condition)
    except PutError as error:
        if not is_conditional_failure(error) or not _holds_token(model, token):
            raise
        logger.info("conditional write found already applied", extra={"table": model.Meta.table_name})


def update_once(model: Model, actions: list[Action], condition: Condition) -> None:
    """`model.update(actions, condition)` for a claim (create-or-take, take-once), safe to retry like
    `save_once`: afterwards `model` holds the stored item. `UpdateError` on the real conflict."""
    token = secrets.token_urlsafe(12)
    try:
        model.update(actions=[*actions, type(model).write_token.set(token)], condition=condition)
    except UpdateError as error:
        if not is_conditional_failure(error) or not _holds_token(model, token):
            raise
        logger.info("conditional write found already applied", extra={"table": model.Meta.table_name})


def _holds_token(model: Model, token: str) -> bool:
    """Whether the stored item under `model`'s key was last written with `token`. Reads it into `model`
    (consistent read), as a successful write would have left it."""
    try:
        model.refresh(consistent_read=True)
    except type(model).DoesNotExist:
        return False
    return model.write_token == token


def is_conditional_failure(error: Exception) -> bool:
    """True when a write failed on its own condition (a transaction counts only if a condition cancelled it)."""
    code = getattr(error, "cause_response_code", None)
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons: list[Any] = getattr(error, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


__all__ = ["IntAttribute", "Model", "SharedClientConnection", "is_conditional_failure", "save_once", "table_meta",
           "update_once"]
