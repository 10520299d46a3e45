"""The enums of the billing, notices and repairs answers are the domain's vocabularies (what the document promises)."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from chalicelib.api import billing as billing_api
from chalicelib.api import notices as notices_api
from chalicelib.api import repairs as repairs_api
from chalicelib.domain import billing, notices, repairs
from chalicelib.domain.model import ROLES, TAGS


@pytest.mark.parametrize(("declared", "vocabulary"), [
    (billing_api.BillType, billing.BILL_TYPES),
    (billing_api.BillStatus, billing.BILL_STATUSES),
    (billing_api.MeterKind, billing.METER_KINDS),
    (get_type_hints(notices_api.NoticeSummary)["category"], notices.CATEGORIES),
    (get_type_hints(notices_api.NoticeSummary)["urgency"], notices.URGENCIES),
    (get_args(get_type_hints(notices_api.Audience)["tags"])[0], TAGS),
    (get_type_hints(repairs_api.RepairSummary)["status"], repairs.STATUSES),
    (get_type_hints(repairs_api.RepairSummary)["kind"], repairs.KINDS),
    (get_type_hints(repairs_api.TimelineEntry)["actor_role"], ROLES),
])
def test_declared_enums_are_the_domain_vocabularies(declared, vocabulary):
    assert set(get_args(declared)) == set(vocabulary)
