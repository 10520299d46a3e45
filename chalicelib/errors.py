"""Domain errors. Plain exceptions, no HTTP or Chalice here: `api/http.py` maps them to statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the API reports to the caller in the API.md format."""

    code = "error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None):
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "validation_error"
    message = "The request is not valid."


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    message = "The cursor is not valid for this list."


class Unauthenticated(DomainError):
    code = "unauthenticated"
    message = "Authentication is required."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    message = "The account or password is incorrect."


class Forbidden(DomainError):
    code = "forbidden"
    message = "You are not allowed to do this."


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"
    message = "The password must be changed before anything else."


class NotFound(DomainError):
    code = "not_found"
    message = "The resource was not found."


class Conflict(DomainError):
    code = "conflict"
    message = "The request conflicts with the current state."


class PreconditionFailed(DomainError):
    """Semantically invalid although well formed (422)."""

    code = "unprocessable"
    message = "The request cannot be processed."


class Locked(DomainError):
    code = "account_locked"
    message = "The account is temporarily locked."


class RateLimited(DomainError):
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (e.g. SMS) failed; nothing was changed or charged, and a retry may succeed (503)."""

    code = "unavailable"
    message = "The service is temporarily unavailable; try again."


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    message = "The request body is larger than 64 KiB."


def field_error(field: str, problem: str) -> ValidationFailed:
    """A validation error about a single field."""
    return ValidationFailed(details={"fields": {field: problem}})
