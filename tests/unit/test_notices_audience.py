"""Audience rules and the feed merge (pure domain)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.notices import Audience, Reader, merge_pages, sms_text


def reader(buildings=(), tags=(), community="c1") -> Reader:
    return Reader("u1", "张三", "+8613900000000", frozenset({community}),
                  frozenset((community, b) for b in buildings), frozenset(tags))


def test_audience_matches_buildings_or_tags_and_whole_community_when_empty():
    cases = [
        (Audience(), reader(["b1"]), True),
        (Audience(frozenset({"b1"})), reader(["b1"]), True),
        (Audience(frozenset({"b1"})), reader(["b2"]), False),
        (Audience(tags=frozenset({"elderly"})), reader(["b2"], ["elderly"]), True),
        (Audience(frozenset({"b1"}), frozenset({"elderly"})), reader(["b2"], ["elderly"]), True),
        (Audience(frozenset({"b1"}), frozenset({"elderly"})), reader(["b2"], ["pet_owner"]), False),
        (Audience(), reader(["b1"], community="c2"), False),
    ]
    for audience, who, expected in cases:
        assert audience.includes(who, "c1") is expected, (audience, who)


def test_audience_partitions_are_the_ones_a_reader_queries():
    audience = Audience(frozenset({"b1"}), frozenset({"elderly"}))
    who = reader(["b1"], ["elderly"])
    assert set(audience.partitions("c1")) <= set(who.feed_partitions())
    assert Audience().partitions("c1") == ["c#c1"]


@dataclass(frozen=True)
class Item:
    sort_key: str


def test_merge_pages_keeps_each_item_once_newest_first_with_a_cursor():
    parts = {"a": [Item("5"), Item("3"), Item("1")], "b": [Item("4"), Item("3")]}
    page, cursor = merge_pages(["a", "b"], lambda p: (parts[p], False), 3, True)
    assert [i.sort_key for i in page] == ["5", "4", "3"] and cursor == "3"
    page, cursor = merge_pages(["a", "b"], lambda p: (parts[p], False), 10, True)
    assert [i.sort_key for i in page] == ["5", "4", "3", "1"] and cursor is None


def test_sms_text_is_chinese_with_the_title():
    assert sms_text("停水") == "【物业通知】停水，详情请查看业主App。"
