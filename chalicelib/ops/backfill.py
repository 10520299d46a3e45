"""One-off migrations of the owner read paths (`python -m chalicelib.cli backfill-owner-reads`).

Safe to run again and while the app serves: every write is idempotent and only fills in what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackfillSummary:
    units: int
    bills_attached: int
    notice_entries: int


def backfill_owner_reads(progress: Callable[[int, str], None] | None = None) -> BackfillSummary:
    """Give existing bills their owners (the unit's current owners: the best record there is of who owned
    the unit when they were billed), their owners' copies and summary entries; and give targeted notices their
    entry in their community's feed partition."""
    from chalicelib.adapters.dynamo.billing import attach_unowned_bills
    from chalicelib.adapters.dynamo.models import UnitModel
    from chalicelib.adapters.dynamo.notices import backfill_feed

    units = attached = 0
    for unit in UnitModel.scan(attributes_to_get=["unit_id"]):
        attached += attach_unowned_bills(unit.unit_id)
        units += 1
        if progress and units % 100 == 0:
            progress(units, "units")
    return BackfillSummary(units, attached, backfill_feed())
