"""The Chalice app: middleware, routes, event handlers and schedules, nothing else.

Every Lambda of the app imports this file: keep it lean. It imports no area code: routes, job kinds and
schedules are mounted from the tables in `chalicelib/routes.py`, and each area module is imported on the first
call that needs it.
"""

from chalice import Chalice

from chalicelib import routes
from chalicelib.api import middleware, routing
from chalicelib.names import JOBS_QUEUE, NOTICE_SMS_QUEUE, PHOTO_UPLOADS_QUEUE, SMS_OUTBOX_QUEUE
from chalicelib.settings import resource_name, sms_consumer_concurrency

app = Chalice(app_name="owner-portal")
app.debug = False

middleware.register(app)
routing.mount(app)


@app.on_sqs_message(queue=resource_name(JOBS_QUEUE), batch_size=10)
def handle_jobs(event):
    from chalicelib.events import jobs

    return jobs.dispatch(list(event))


@app.on_sqs_message(queue=resource_name(PHOTO_UPLOADS_QUEUE), batch_size=5)
def handle_photo_uploads(event):
    from chalicelib.events import repairs as repair_events

    return repair_events.handle_photo_uploads(list(event))


@app.on_sqs_message(queue=resource_name(SMS_OUTBOX_QUEUE), batch_size=10,
                    maximum_concurrency=sms_consumer_concurrency())
def handle_sms_outbox(event):
    # The same kind-routed dispatcher as the jobs queue, on a queue whose concurrency paces bulk SMS.
    from chalicelib.events import jobs

    return jobs.dispatch(list(event))


@app.on_sqs_message(queue=resource_name(NOTICE_SMS_QUEUE), batch_size=10)
def handle_notice_sms(event):
    from chalicelib.events import notices as notice_events

    return notice_events.deliver(list(event))


def _wire_schedules() -> None:
    """Turn every scheduled job of the table into a Chalice schedule (a module attribute, as Lambda looks it up)."""
    for job in routes.SCHEDULES:
        name = "schedule_" + job.name.replace("-", "_")
        globals()[name] = app.schedule(job.expression, name=name)(_schedule_handler(name, job.name))


def _schedule_handler(name: str, job_name: str):
    """The Lambda handler of one schedule; named like its module attribute (Chalice packages `app.<__name__>`)."""

    def handler(event):
        from chalicelib.events import schedules

        return schedules.run(job_name)

    handler.__name__ = handler.__qualname__ = name
    return handler


_wire_schedules()
