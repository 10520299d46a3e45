"""The Chalice app: middleware, blueprints and event handlers, nothing else.

Every Lambda of the app imports this file: keep it lean (heavy libraries are imported where they are used).
"""

from chalice import Chalice

from chalicelib.api import auth, bills, messages, middleware, notices, payments, platform, profile, repairs
from chalicelib.events import billing as billing_events  # noqa: F401 - registers jobs and schedules
from chalicelib.events import door_access, jobs  # noqa: F401 - door_access registers its schedule
from chalicelib.events import notices as notice_events
from chalicelib.events import reminders as reminder_events  # noqa: F401 - registers the job and schedule
from chalicelib.events import repairs as repair_events
from chalicelib.names import JOBS_QUEUE, NOTICE_SMS_QUEUE, PHOTO_UPLOADS_QUEUE, SMS_OUTBOX_QUEUE
from chalicelib.settings import resource_name, sms_consumer_concurrency

app = Chalice(app_name="owner-portal")
app.debug = False

middleware.register(app)
app.register_blueprint(platform.bp)
app.register_blueprint(auth.bp)
app.register_blueprint(repairs.bp)
app.register_blueprint(profile.bp)
app.register_blueprint(messages.bp)
app.register_blueprint(bills.bp)
app.register_blueprint(payments.bp)
app.register_blueprint(notices.bp)


@app.on_sqs_message(queue=resource_name(JOBS_QUEUE), batch_size=10)
def handle_jobs(event):
    return jobs.dispatch(list(event))


@app.on_sqs_message(queue=resource_name(PHOTO_UPLOADS_QUEUE), batch_size=5)
def handle_photo_uploads(event):
    return repair_events.handle_photo_uploads(list(event))


@app.on_sqs_message(queue=resource_name(SMS_OUTBOX_QUEUE), batch_size=10,
                    maximum_concurrency=sms_consumer_concurrency())
def handle_sms_outbox(event):
    # The same kind-routed dispatcher as the jobs queue, on a queue whose concurrency paces bulk SMS.
    return jobs.dispatch(list(event))


@app.on_sqs_message(queue=resource_name(NOTICE_SMS_QUEUE), batch_size=10)
def handle_notice_sms(event):
    return notice_events.deliver(list(event))


def _wire_schedules() -> None:
    """Turn every registered scheduled job into a Chalice schedule (a module attribute, as Lambda looks it up)."""
    from chalicelib.events import schedules

    for job in schedules.all_jobs().values():
        name = "schedule_" + job.name.replace("-", "_")
        globals()[name] = app.schedule(job.expression, name=name)(lambda event, _fn=job.fn: _fn())


_wire_schedules()
