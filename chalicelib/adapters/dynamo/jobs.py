"""Storage of long jobs' progress (`domain.jobs`): one item per job, advanced by conditional writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError

from chalicelib.adapters.dynamo.base import (
    IntAttribute,
    Model,
    is_conditional_failure,
    save_once,
    table_meta,
    update_once,
)
from chalicelib.domain.jobs import Progress

KEEP_DAYS = 14  # long enough to look into a stuck job, short enough not to accumulate


class JobProgressModel(Model):
    """`job_id` is `<kind>#<subject>` (`fee-reminders#2026-11-25`, `notice-sms#n_...`)."""

    Meta = table_meta("job-progress")

    job_id = UnicodeAttribute(hash_key=True)
    step = IntAttribute()
    state = UnicodeAttribute()  # JSON: the cursor and counters the next step starts from
    done = BooleanAttribute(default=False)
    ttl = TTLAttribute()


JOB_MODELS: list[type[Model]] = [JobProgressModel]


def _progress(m: JobProgressModel) -> Progress:
    return Progress(m.step, json.loads(m.state), bool(m.done))


def _json(state: dict[str, Any]) -> str:
    return json.dumps(state, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class DynamoJobProgress:
    """The `JobProgress` port; mixed into the repositories whose services run long jobs."""

    def load(self, job_id: str) -> Progress | None:
        try:
            return _progress(JobProgressModel.get(job_id, consistent_read=True))
        except JobProgressModel.DoesNotExist:
            return None

    def begin(self, job_id: str, state: dict[str, Any]) -> Progress:
        model = JobProgressModel(job_id, step=0, state=_json(state), done=False,
                                 ttl=datetime.now(UTC) + timedelta(days=KEEP_DAYS))
        try:
            save_once(model, JobProgressModel.job_id.does_not_exist())
        except PutError as error:
            if not is_conditional_failure(error):
                raise
            found = self.load(job_id)
            if found is not None:
                return found
            raise
        return Progress(0, state, False)

    def advance(self, job_id: str, step: int, state: dict[str, Any], done: bool) -> bool:
        try:
            update_once(JobProgressModel(job_id),
                        [JobProgressModel.step.set(step + 1), JobProgressModel.state.set(_json(state)),
                         JobProgressModel.done.set(done)],
                        JobProgressModel.step == step)
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True
