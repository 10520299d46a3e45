"""The Chalice app: middleware, blueprints and event handlers, nothing else.

Every Lambda of the app imports this file: keep it lean (heavy libraries are imported where they are used).
"""

from chalice import Chalice

from chalicelib.api import auth, middleware, notices, platform
from chalicelib.events import jobs
from chalicelib.events import notices as notice_events
from chalicelib.resources import JOBS_QUEUE, NOTICE_SMS_QUEUE
from chalicelib.settings import resource_name

app = Chalice(app_name="owner-portal")
app.debug = False

middleware.register(app)
app.register_blueprint(platform.bp)
app.register_blueprint(auth.bp)
app.register_blueprint(notices.bp)


@app.on_sqs_message(queue=resource_name(JOBS_QUEUE), batch_size=10)
def handle_jobs(event):
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
