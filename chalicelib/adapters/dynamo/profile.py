"""DynamoDB side of the owner's profile updates (household members are in household.py)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo.base import is_conditional_failure
from chalicelib.adapters.dynamo.models import AccountModel
from chalicelib.domain.profile import ProfileChanges
from chalicelib.errors import NotFound


class DynamoProfiles:
    def update_profile(self, user_id: str, changes: ProfileChanges) -> None:
        actions: list[Any] = []
        if changes.email is not None:
            actions.append(AccountModel.email.set(changes.email))
        elif changes.clear_email:
            actions.append(AccountModel.email.remove())
        if changes.tags is not None:
            # DynamoDB has no empty sets: "no tags" is the absence of the attribute.
            actions.append(AccountModel.tags.set(set(changes.tags)) if changes.tags else AccountModel.tags.remove())
        prefs = changes.notification_prefs or {}
        nested = [AccountModel.notification_prefs[key].set(value) for key, value in sorted(prefs.items())]
        exists = AccountModel.user_id.exists()
        try:
            if not prefs:
                AccountModel(user_id).update(actions=actions, condition=exists)
                return
            try:
                # Merge key by key, so two concurrent PATCHes of different keys both stay applied.
                AccountModel(user_id).update(actions=actions + nested,
                                             condition=exists & AccountModel.notification_prefs.exists())
            except UpdateError as error:
                if not is_conditional_failure(error):
                    raise
                # The account has no preference map yet: create it whole (only if still absent).
                AccountModel(user_id).update(actions=[*actions, AccountModel.notification_prefs.set(prefs)],
                                             condition=exists & AccountModel.notification_prefs.does_not_exist())
        except UpdateError as error:
            if is_conditional_failure(error):
                raise NotFound() from None
            raise
