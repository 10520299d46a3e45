"""The caller's profile changes and history (API.md §5; `GET /me` is in platform.py, the household in household.py)."""

from __future__ import annotations

from typing import ClassVar, TypedDict

from chalicelib import deps
from chalicelib.api import validation as v
from chalicelib.api.common import PROFILE_RESPONSE, Profile, profile_json
from chalicelib.api.contract import endpoint, page_of
from chalicelib.api.pagination import PageQuery, page_answer, start_of
from chalicelib.api.routing import principal
from chalicelib.domain.model import TAGS
from chalicelib.domain.profile import NOTIFICATION_PREFS, ProfileChanges


class ProfileUpdate(v.Shape):
    """Only the fields sent are changed; `"email": null` removes the email, `"tags": []` clears the tags."""

    patch: ClassVar[bool] = True
    email = v.nullable(v.email())
    tags = v.about(v.string_set(TAGS, what="tag"), "Replaces the tags")
    notification_prefs = v.about(v.flags(NOTIFICATION_PREFS), "Merged key by key into the stored preferences")


class HistoryEvent(TypedDict):
    at: str
    action: str  # e.g. login, password.changed, payment.succeeded, repair.created, household.added
    summary: str
    ref: str | None  # the id of what the event is about, if anything


@endpoint(body=ProfileUpdate, response=PROFILE_RESPONSE, errors=("not_found",))
def update_me(body: ProfileUpdate) -> Profile:
    """Change the caller's email, tags or notification preferences.

    Absent fields are left as they are. `"email": null` removes the email; tags are cleared with `[]`;
    `null` for `tags` or `notification_prefs` is refused (400 validation_error naming the field), and so is a
    body that changes nothing.
    """
    clear_email = body.email is v.CLEAR
    changes = ProfileChanges(None if clear_email else body.email, body.tags, body.notification_prefs,
                             clear_email=clear_email)
    return profile_json(deps.profile_service().update(principal(), changes), own=True)


@endpoint(query=PageQuery, response=page_of(HistoryEvent))
def history(query: PageQuery) -> dict:
    """The caller's own audit trail, newest first."""
    page = deps.profile_service().history(principal(), query.limit, start_of(query, "history"))
    return page_answer([HistoryEvent(at=e.at, action=e.action, summary=e.summary, ref=e.ref) for e in page.items],
                       "history", page.last_key)
