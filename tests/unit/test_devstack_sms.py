"""The local stack's SMS log: reads only new texts from the in-process emulator and keeps both bounded."""

from __future__ import annotations

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from devstack import sms


def test_texts_are_numbered_once_and_the_emulator_keeps_only_the_newest():
    store = sns_backends[DEFAULT_ACCOUNT_ID]["us-west-2"].sms_messages
    store.clear()
    log = sms.SmsLog("us-west-2", keep=50)
    for n in range(sms.KEEP_IN_EMULATOR + 20):
        store[f"m{n}"] = ("+8613900000001", f"text {n}")
    log.collect()
    log.collect()  # nothing new: nothing added twice
    store["late"] = ("+8613900000002", "late text")
    log.collect()
    items, last = log.since(0)
    assert last == sms.KEEP_IN_EMULATOR + 21 and len(items) == 50
    assert items[-1]["message"] == "late text" and items[-2]["message"] == f"text {sms.KEEP_IN_EMULATOR + 19}"
    assert len(store) == sms.KEEP_IN_EMULATOR and "m0" not in store
    assert [i["message"] for i in log.since(last - 1, phone="+8613900000002")[0]] == ["late text"]
    store.clear()
