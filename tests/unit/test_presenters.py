"""The shared presenters answer what their TypedDicts (and so the OpenAPI document) say, for every kind of account."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

import pytest

from chalicelib.api import common, platform, profile
from chalicelib.api.contract import ContractViolation, check_response, view_endpoint
from chalicelib.domain.model import ROLES, TAGS, Account, Unit, UnitView

VIEW = UnitView("un_1", "c_1", "翠湖花园", "b_1", "1号楼", "1201", 12, Decimal("89.56"), "3室2厅1卫")


def _account(role: str, **extra) -> Account:
    return Account(user_id="u_1", account="13800138000", name="张三", phone="+8613800138000", role=role,  # type: ignore[arg-type]
                   password_hash="x", created_at="2026-11-25T06:00:00Z", **extra)


def test_the_documented_vocabularies_are_the_domains():
    assert get_args(common.Tag) == TAGS
    assert get_args(common.Role) == ROLES
    assert set(get_args(common.StaffRole)) == set(ROLES) - {"owner"}


@pytest.mark.parametrize("view", [platform.me, profile.update_me])
def test_an_owner_profile_conforms_with_units_and_tags(view):
    owner = _account("owner", units=[VIEW], tags=frozenset({"pet_owner", "elderly"}),
                     notification_prefs={"sms_notices": False}, email="zhang@example.com")
    answer = common.profile_json(owner, own=True)
    check_response(view_endpoint(view), answer)
    assert answer["units"][0]["building_name"] == "1号楼" and "community_ids" not in answer
    assert answer["tags"] == ["elderly", "pet_owner"]


@pytest.mark.parametrize("role", ["staff", "technician", "admin"])
def test_a_staff_profile_conforms_with_communities_and_no_units(role):
    staff = _account(role, community_ids=frozenset({"c_2", "c_1"}))
    answer = common.profile_json(staff, own=True)
    check_response(view_endpoint(platform.me), answer)
    assert answer["community_ids"] == ["c_1", "c_2"] and "units" not in answer


def test_a_profile_is_one_of_the_two_shapes_not_a_mix():
    owner_without_units = {k: v for k, v in common.profile_json(_account("owner"), own=True).items() if k != "units"}
    with pytest.raises(ContractViolation):
        check_response(view_endpoint(platform.me), owner_without_units)
    staff_as_owner = {**common.profile_json(_account("staff"), own=True), "role": "owner"}
    with pytest.raises(ContractViolation):
        check_response(view_endpoint(platform.me), staff_as_owner)


def test_the_phone_is_masked_unless_it_is_the_callers_own():
    assert common.profile_json(_account("owner"), own=False)["phone"] != "+8613800138000"


@pytest.mark.parametrize("area", [Decimal("89.56"), Decimal("100.00"), Decimal("50")])
def test_a_unit_conforms_whatever_its_area(area):
    unit = Unit("un_1", "c_1", "b_1", "1201", -1, area, "1室", "2026-11-25T06:00:00Z", frozenset({"u_1"}))
    answer = common.unit_json(unit)
    check_response(view_endpoint(platform.create_unit), answer)
    assert answer["owner_count"] == 1
