"""Every module that declares routes (`@route`), job kinds (`@job`) or scheduled jobs (`@scheduled`).

Adding an area: one line here, then `python -m chalicelib.manifest` and commit `chalicelib/manifest/manifest.json`.
"""

AREAS = (
    "chalicelib.api.platform",
    "chalicelib.api.auth",
    "chalicelib.api.repairs",
    "chalicelib.api.profile",
    "chalicelib.api.household",
    "chalicelib.api.messages",
    "chalicelib.api.board",
    "chalicelib.api.billing",
    "chalicelib.api.payments",
    "chalicelib.api.notices",
    "chalicelib.api.home",
    "chalicelib.events.repairs",
    "chalicelib.events.household",
    "chalicelib.events.billing",
    "chalicelib.events.notices",
    "chalicelib.events.reminders",
)


def import_areas() -> None:
    """Import every area module, registering all its routes, jobs and schedules (the CLI and the generator)."""
    import importlib

    for module in AREAS:
        importlib.import_module(module)
