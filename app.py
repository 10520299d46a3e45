"""The Chalice app: middleware, blueprints and event handlers, nothing else.

Every Lambda of the app imports this file: keep it lean (heavy libraries are imported where they are used).
"""

from chalice import Chalice

from chalicelib.api import auth, bills, middleware, payments, platform
from chalicelib.events import billing as billing_events  # noqa: F401 - registers jobs and schedules
from chalicelib.events import jobs
from chalicelib.resources import JOBS_QUEUE
from chalicelib.settings import resource_name

app = Chalice(app_name="owner-portal")
app.debug = False

middleware.register(app)
app.register_blueprint(platform.bp)
app.register_blueprint(auth.bp)
app.register_blueprint(bills.bp)
app.register_blueprint(payments.bp)


@app.on_sqs_message(queue=resource_name(JOBS_QUEUE), batch_size=10)
def handle_jobs(event):
    return jobs.dispatch(list(event))



def _wire_schedules() -> None:
    """Turn every registered scheduled job into a Chalice schedule (a module attribute, as Lambda looks it up)."""
    from chalicelib.events import schedules

    for job in schedules.all_jobs().values():
        name = "schedule_" + job.name.replace("-", "_")
        globals()[name] = app.schedule(job.expression, name=name)(lambda event, _fn=job.fn: _fn())


_wire_schedules()
