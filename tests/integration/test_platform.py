"""Community structure, accounts and the cross-cutting HTTP behaviour (API.md §1, §4, §5, §11)."""

from __future__ import annotations

from tests.integration.helpers import login, login_reply, random_account, random_phone


def test_health_is_public_and_carries_a_request_id(api):
    reply = api.get("/health")
    assert reply.status == 200 and reply.body == {"status": "ok"}
    assert reply.headers["x-request-id"]
    assert reply.headers["content-type"].startswith("application/json")


def test_every_error_answer_carries_a_request_id_and_the_error_format(api):
    reply = api.get("/me")
    assert reply.status == 401
    assert reply.headers["x-request-id"]
    assert set(reply.body) == {"code", "message"} and reply.body["code"] == "unauthenticated"


def test_admin_builds_a_community_and_issues_an_owner(api, admin_token):
    # given a community, building and unit
    community = api.post("/staff/communities", {"name": "阳光花园", "address": "上海"}, token=admin_token)
    assert community.status == 201 and community.body["timezone"] == "Asia/Shanghai"
    cid = community.body["community_id"]
    building = api.post(f"/staff/communities/{cid}/buildings", {"name": "1号楼"}, token=admin_token)
    assert building.status == 201
    unit = api.post("/staff/units", {"community_id": cid, "building_id": building.body["building_id"],
                                     "unit_no": "1201", "floor": 12, "area_m2": 89.56, "layout": "3室2厅1卫"},
                    token=admin_token)
    assert unit.status == 201 and unit.body["area_m2"] == 89.56
    # when an owner is issued
    phone = random_phone()
    owner = api.post("/staff/owners", {"name": "张伟", "phone": phone, "unit_ids": [unit.body["unit_id"]]},
                     token=admin_token)
    # then the initial password works once and must be changed
    assert owner.status == 201
    assert set(owner.body) >= {"user_id", "account", "initial_password"}
    token = login(api, owner.body["account"], owner.body["initial_password"])
    me = api.get("/me", token=token)
    assert me.status == 200
    assert me.body["phone"] == phone and me.body["must_change_password"] is True
    assert me.body["units"] == [{
        "unit_id": unit.body["unit_id"], "community_id": cid, "community_name": "阳光花园",
        "building_id": building.body["building_id"], "building_name": "1号楼", "unit_no": "1201", "floor": 12,
        "area_m2": 89.56, "layout": "3室2厅1卫"}]


def test_must_change_password_blocks_everything_but_me_logout_and_password(api, world):
    phone, account = random_phone(), random_account()
    created = api.post("/staff/owners", {"name": "王五", "phone": phone, "account": account,
                                         "unit_ids": [world.unit_ids[0]]}, token=world.admin)
    token = login(api, account, created.body["initial_password"])
    blocked = api.get("/staff/units", token=token)
    assert blocked.status == 403 and blocked.code == "password_change_required"
    assert api.get("/me", token=token).status == 200
    changed = api.post("/auth/password", {"old_password": created.body["initial_password"],
                                          "new_password": "a much better passphrase"}, token=token)
    assert changed.status == 204
    assert api.get("/me", token=token).body["must_change_password"] is False


def test_owner_can_log_in_with_phone_number(api, world):
    owner = world.owner()
    reply = login_reply(api, owner.phone, owner.password)
    assert reply.status == 200 and reply.body["status"] == "mfa_required"


def test_duplicate_phone_or_account_is_a_conflict_and_writes_nothing(api, world):
    owner = world.owner()
    same_phone = api.post("/staff/owners", {"name": "x", "phone": owner.phone, "account": random_account(),
                                            "unit_ids": [world.unit_ids[1]]}, token=world.admin)
    assert same_phone.status == 409 and same_phone.code == "conflict"
    fresh_phone = random_phone()
    same_account = api.post("/staff/owners", {"name": "x", "phone": fresh_phone, "account": owner.account,
                                              "unit_ids": [world.unit_ids[1]]}, token=world.admin)
    assert same_account.status == 409
    # nothing was written: the fresh phone is still free
    retry = api.post("/staff/owners", {"name": "x", "phone": fresh_phone, "account": random_account(),
                                       "unit_ids": [world.unit_ids[1]]}, token=world.admin)
    assert retry.status == 201


def test_duplicate_unit_number_in_a_building_is_a_conflict(api, world):
    reply = api.post("/staff/units", {"community_id": world.community_id, "building_id": world.building_ids[0],
                                      "unit_no": "101", "floor": 1, "area_m2": 50, "layout": "1室"}, token=world.admin)
    assert reply.status == 409


def test_staff_of_another_community_sees_nothing_of_it(api, world, admin_token):
    from tests.integration.helpers import make_world

    other = make_world(api, admin_token)
    foreign_units = api.get(f"/staff/units?community_id={other.community_id}", token=world.staff.token)
    assert foreign_units.status == 404
    foreign_owner = api.post("/staff/owners", {"name": "x", "phone": random_phone(), "unit_ids": [other.unit_ids[0]]},
                             token=world.staff.token)
    assert foreign_owner.status == 404
    building = api.post(f"/staff/communities/{other.community_id}/buildings", {"name": "x"}, token=world.staff.token)
    assert building.status == 404


def test_roles_owners_never_reach_staff_routes(api, world):
    owner = world.owner()
    reply = api.get(f"/staff/units?community_id={world.community_id}", token=owner.token)
    assert reply.status == 403 and reply.code == "forbidden"
    assert api.post("/staff/communities", {"name": "x", "address": "y"}, token=world.staff.token).status == 403


def test_unit_list_is_paginated_with_signed_cursors_bound_to_list_and_caller(api, world, admin_token):
    path = f"/staff/units?community_id={world.community_id}"
    first = api.get(f"{path}&limit=2", token=world.staff.token)
    assert first.status == 200 and len(first.body["items"]) == 2 and first.body["next_cursor"]
    second = api.get(f"{path}&limit=2&cursor={first.body['next_cursor']}", token=world.staff.token)
    assert second.status == 200 and len(second.body["items"]) == 1 and second.body["next_cursor"] is None
    ids = [u["unit_id"] for u in first.body["items"] + second.body["items"]]
    assert sorted(ids) == sorted(world.unit_ids)
    # a cursor used by someone else, on another list, or altered → 400 invalid_cursor
    cursor = first.body["next_cursor"]
    foreign = api.get(f"{path}&limit=2&cursor={cursor}", token=admin_token)
    assert foreign.status == 400 and foreign.code == "invalid_cursor"
    other_list = api.get(f"{path}&building_id={world.building_ids[0]}&cursor={cursor}", token=world.staff.token)
    assert other_list.code == "invalid_cursor"
    forged = api.get(f"{path}&cursor={cursor[:-3]}abc", token=world.staff.token)
    assert forged.code == "invalid_cursor"


def test_units_filter_by_building(api, world):
    reply = api.get(f"/staff/units?community_id={world.community_id}&building_id={world.building_ids[1]}",
                    token=world.staff.token)
    assert [u["unit_id"] for u in reply.body["items"]] == [world.unit_ids[2]]


def test_bad_input_gets_validation_errors_listing_fields(api, admin_token):
    reply = api.post("/staff/communities", {"name": "", "address": 5, "role": "admin"}, token=admin_token)
    assert reply.status == 400 and reply.code == "validation_error"
    assert set(reply.body["details"]["fields"]) == {"name", "address", "role"}


def test_malformed_json_is_a_validation_error(api, admin_token):
    reply = api.call("POST", "/staff/communities", raw=b'{"name": ', token=admin_token)
    assert reply.status == 400 and reply.code == "validation_error"
    not_object = api.call("POST", "/staff/communities", raw=b"[1,2]", token=admin_token)
    assert not_object.status == 400


def test_area_with_more_than_two_decimals_is_refused(api, world):
    reply = api.post("/staff/units", {"community_id": world.community_id, "building_id": world.building_ids[0],
                                      "unit_no": "999", "floor": 9, "area_m2": 89.555, "layout": "x"},
                     token=world.admin)
    assert reply.status == 400 and "area_m2" in reply.body["details"]["fields"]


def test_body_over_64_kib_is_413(api, admin_token):
    reply = api.call("POST", "/staff/communities", raw=b'{"name": "' + b"x" * 70000 + b'"}', token=admin_token)
    assert reply.status == 413 and reply.code == "payload_too_large"


def test_unknown_community_is_404(api, admin_token):
    reply = api.post("/staff/communities/c_doesnotexist/buildings", {"name": "x"}, token=admin_token)
    assert reply.status == 404 and reply.code == "not_found"


def test_staff_users_need_communities(api, admin_token):
    reply = api.post("/staff/users", {"name": "x", "phone": random_phone(), "role": "staff",
                                      "account": random_account()}, token=admin_token)
    assert reply.status == 400 and "community_ids" in reply.body["details"]["fields"]


def test_reset_password_ends_sessions_and_forces_a_change(api, world):
    owner = world.owner()
    reset = api.post(f"/staff/accounts/{owner.user_id}/reset-password", token=world.staff.token)
    assert reset.status == 200 and reset.body["initial_password"]
    assert api.get("/me", token=owner.token).status == 401
    assert login_reply(api, owner.account, owner.password).status == 401
    token = login(api, owner.account, reset.body["initial_password"])
    assert api.get("/me", token=token).body["must_change_password"] is True


def test_a_staff_reset_distrusts_the_devices_trusted_before_it(api, world):
    from tests.integration.helpers import _TRUSTED_DEVICES

    owner = world.owner()
    device = _TRUSTED_DEVICES[owner.account]  # trusted at the owner's first sign-in
    assert "access_token" in login_reply(api, owner.account, owner.password, device_token=device).body
    reset = api.post(f"/staff/accounts/{owner.user_id}/reset-password", token=world.staff.token)
    assert reset.status == 200
    again = login_reply(api, owner.account, reset.body["initial_password"], device_token=device)
    assert again.status == 200 and again.body["status"] == "mfa_required"


def test_nobody_resets_their_own_password_through_the_desk_route(api, world, admin_token):
    me = api.get("/me", token=admin_token).body["user_id"]
    refused = api.post(f"/staff/accounts/{me}/reset-password", token=admin_token)
    assert refused.status == 409 and refused.code == "cannot_reset_self"
    assert api.get("/me", token=admin_token).status == 200  # still signed in, password unchanged
    staff = world.staff
    assert api.post(f"/staff/accounts/{staff.user_id}/reset-password",
                    token=staff.token).code == "cannot_reset_self"


def test_staff_cannot_reset_accounts_outside_their_communities(api, world, admin_token):
    from tests.integration.helpers import make_world

    other = make_world(api, admin_token)
    stranger = other.owner()
    assert api.post(f"/staff/accounts/{stranger.user_id}/reset-password", token=world.staff.token).status == 404
    assert api.post(f"/staff/accounts/{stranger.user_id}/unlock", token=world.staff.token).status == 404


def test_unlock_answers_204(api, world):
    owner = world.owner()
    assert api.post(f"/staff/accounts/{owner.user_id}/unlock", token=world.staff.token).status == 204


def test_staff_profile_has_no_units(api, world):
    me = api.get("/me", token=world.staff.token)
    assert me.status == 200 and "units" not in me.body and me.body["role"] == "staff"
