"""Repairs on the real local stack: presigned POST uploads to the emulator, S3 → SQS → processor, the workflow."""

from __future__ import annotations

import threading
import urllib.request

import pytest
import requests

from tests.e2e.conftest import REQUEST_TIMEOUT, StackApi, admin_session, wait_for
from tests.integration.helpers import World, make_world
from tests.repairs_images import exif_of, jpeg_with_gps, png_bomb

pytestmark = pytest.mark.e2e
ETA = "2026-11-26T02:00:00Z"


@pytest.fixture(scope="module")
def world(stack) -> World:
    return make_world(StackApi(stack), admin_session(stack))


def new_repair(world: World, owner) -> str:
    reply = world.api.post("/repairs", {"unit_id": world.unit_ids[0], "kind": "repair", "category": "electrical",
                                        "location": "客厅", "description": "插座没电"}, token=owner.token)
    assert reply.status == 201, reply.body
    return reply.body["repair_id"]


def upload(world: World, owner, repair_id: str, data: bytes, content_type: str) -> tuple[dict, requests.Response]:
    ticket = world.api.post(f"/repairs/{repair_id}/photos", {"content_type": content_type,
                                                             "size_bytes": len(data)}, token=owner.token)
    assert ticket.status == 201, ticket.body
    answer = requests.post(ticket.body["upload"]["url"], data=ticket.body["upload"]["fields"],
                           files={"file": ("photo", data, content_type)}, timeout=REQUEST_TIMEOUT)
    return ticket.body, answer


def photo_status(world: World, owner, repair_id: str, photo_id: str) -> dict | None:
    detail = world.api.get(f"/repairs/{repair_id}", token=owner.token).body
    photo = next(p for p in detail["photos"] if p["photo_id"] == photo_id)
    return photo if photo["status"] != "pending" else None


def emulator_has(stack, bucket_key: str) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.emulator_url}/{bucket_key}", timeout=REQUEST_TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return False


def test_real_jpeg_with_gps_becomes_ready_and_served_without_exif(world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    ticket, answer = upload(world, owner, repair_id, jpeg_with_gps(1600, 1200), "image/jpeg")
    assert answer.status_code in (200, 201, 204), answer.text
    photo = wait_for(lambda: photo_status(world, owner, repair_id, ticket["photo_id"]))
    assert photo and photo["status"] == "ready"
    image = requests.get(photo["url"], timeout=REQUEST_TIMEOUT)
    thumbnail = requests.get(photo["thumbnail_url"], timeout=REQUEST_TIMEOUT)
    assert image.status_code == 200 and thumbnail.status_code == 200
    assert exif_of(image.content)["exif"] == {} and exif_of(image.content)["info"] == {}
    assert exif_of(thumbnail.content)["exif"] == {} and max(exif_of(thumbnail.content)["size"]) == 320


def test_text_file_sent_as_jpeg_is_rejected_and_deleted(stack, world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    ticket, answer = upload(world, owner, repair_id, "这不是图片。".encode() * 50, "image/jpeg")
    assert answer.status_code in (200, 201, 204), answer.text
    photo = wait_for(lambda: photo_status(world, owner, repair_id, ticket["photo_id"]))
    assert photo == {"photo_id": ticket["photo_id"], "status": "rejected", "reason": "not_an_image"}
    bucket = ticket["upload"]["url"].rstrip("/").rsplit("/", 1)[1]
    assert not emulator_has(stack, f"{bucket}/{ticket['upload']['fields']['key']}")


def test_png_bomb_is_rejected_quickly(world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    ticket, _ = upload(world, owner, repair_id, png_bomb(), "image/png")
    photo = wait_for(lambda: photo_status(world, owner, repair_id, ticket["photo_id"]))
    assert photo is not None and photo["status"] == "rejected"


def test_seventh_photo_is_409(world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    path = f"/repairs/{repair_id}/photos"
    for _ in range(6):
        assert world.api.post(path, {"content_type": "image/jpeg", "size_bytes": 100}, token=owner.token).status \
            == 201
    seventh = world.api.post(path, {"content_type": "image/jpeg", "size_bytes": 100}, token=owner.token)
    assert seventh.status == 409 and seventh.code == "too_many_photos"


def test_workflow_transitions_and_sms_to_the_owner(stack, world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    staff, tech = world.staff.token, world.technician.token
    assert world.api.post(f"/staff/repairs/{repair_id}/status", {"status": "accepted"}, token=tech).status == 404
    assigned = world.api.post(f"/staff/repairs/{repair_id}/assign",
                              {"technician_id": world.technician.user_id, "eta": ETA}, token=staff)
    assert assigned.status == 200 and assigned.body["assignee"]["name"] == "technician"
    assert world.api.post(f"/staff/repairs/{repair_id}/status", {"status": "completed"}, token=tech).code == \
        "invalid_transition"
    for value in ("accepted", "in_progress"):
        assert world.api.post(f"/staff/repairs/{repair_id}/status", {"status": value}, token=tech).status == 200
    assert world.api.post(f"/repairs/{repair_id}/cancel", {}, token=owner.token).code == "invalid_transition"
    assert world.api.post(f"/repairs/{repair_id}/rating", {"stars": 5}, token=owner.token).status == 409
    done = world.api.post(f"/staff/repairs/{repair_id}/status", {"status": "completed", "note": "已更换插座"},
                          token=tech)
    assert done.status == 200 and done.body["timeline"][-1]["note"] == "已更换插座"
    assert world.api.post(f"/repairs/{repair_id}/rating", {"stars": 5}, token=owner.token).status == 200
    assert world.api.post(f"/repairs/{repair_id}/rating", {"stars": 4}, token=owner.token).status == 409
    texts = wait_for(lambda: [t for t in stack.sms_to(owner.phone) if "报修" in t]
                     if len([t for t in stack.sms_to(owner.phone) if "报修" in t]) >= 2 else None)
    assert texts and "派单" in texts[0] and "完成" in texts[1]


def test_reject_and_cancel(world):
    owner = world.owner()
    rejected_id, cancelled_id = new_repair(world, owner), new_repair(world, owner)
    assert world.api.post(f"/staff/repairs/{rejected_id}/reject", {}, token=world.staff.token).status == 400
    assert world.api.post(f"/staff/repairs/{rejected_id}/reject", {"note": "非物业范围"},
                          token=world.staff.token).body["status"] == "rejected"
    assert world.api.post(f"/repairs/{cancelled_id}/cancel", {}, token=owner.token).body["status"] == "cancelled"
    closed = world.api.get("/repairs?status=closed", token=owner.token).body["items"]
    assert {r["repair_id"] for r in closed} == {rejected_id, cancelled_id}


def test_two_concurrent_status_changes_one_wins(world):
    owner = world.owner()
    repair_id = new_repair(world, owner)
    world.api.post(f"/staff/repairs/{repair_id}/assign", {"technician_id": world.technician.user_id, "eta": ETA},
                   token=world.staff.token)
    barrier, results = threading.Barrier(2), []

    def change(token: str) -> None:
        barrier.wait()
        results.append(world.api.post(f"/staff/repairs/{repair_id}/status", {"status": "accepted"},
                                      token=token).status)

    threads = [threading.Thread(target=change, args=(t,)) for t in (world.technician.token, world.staff.token)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [200, 409]
    timeline = world.api.get(f"/repairs/{repair_id}", token=owner.token).body["timeline"]
    assert [e["status"] for e in timeline].count("accepted") == 1

