"""The enums of the billing and home answers are the domain's vocabularies (what the document promises)."""

from __future__ import annotations

from typing import get_args, get_type_hints

import pytest

from chalicelib.api import billing as billing_api
from chalicelib.api import home
from chalicelib.domain import billing, notices, repairs
from chalicelib.domain.model import ROLES, TAGS


@pytest.mark.parametrize(("declared", "vocabulary"), [
    (billing_api.BillType, billing.BILL_TYPES),
    (billing_api.BillStatus, billing.BILL_STATUSES),
    (billing_api.MeterKind, billing.METER_KINDS),
    (home.NoticeCategory, notices.CATEGORIES),
    (get_type_hints(home.HomeNotice)["urgency"], notices.URGENCIES),
    (home.Tag, TAGS),
    (home.RepairStatus, repairs.STATUSES),
    (get_type_hints(home.HomeRepair)["kind"], repairs.KINDS),
    (home.Role, ROLES),
])
def test_declared_enums_are_the_domain_vocabularies(declared, vocabulary):
    assert set(get_args(declared)) == set(vocabulary)
