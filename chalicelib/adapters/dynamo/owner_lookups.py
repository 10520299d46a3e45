"""The home screen's lookup by key (`domain.home.OwnerLookups`): one BatchGetItem over four tables."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.adapters.dynamo.billing import open_bills_of
from chalicelib.adapters.dynamo.billing_models import OwnerBillSummaryModel
from chalicelib.adapters.dynamo.lookups import get_across
from chalicelib.adapters.dynamo.models import AccountModel
from chalicelib.adapters.dynamo.notices import EventSignupModel, NoticeReadModel
from chalicelib.adapters.dynamo.repositories import account_from_model
from chalicelib.domain.home import OwnerFacts


class DynamoOwnerLookups:
    def fetch(self, user_id: str, notice_ids: Iterable[str], event_ids: Iterable[str]) -> OwnerFacts:
        found = get_across([(AccountModel, [(user_id,)]), (OwnerBillSummaryModel, [(user_id,)]),
                            (NoticeReadModel, [(user_id, n) for n in notice_ids]),
                            (EventSignupModel, [(e, user_id) for e in event_ids])])
        accounts, summaries = found[AccountModel], found[OwnerBillSummaryModel]
        return OwnerFacts(account_from_model(accounts[0]) if accounts else None,
                          {m.notice_id for m in found[NoticeReadModel]},
                          {m.event_id for m in found[EventSignupModel]},
                          open_bills_of(summaries[0] if summaries else None))
