"""Operations CLI: `python -m chalicelib.cli <command>` from the project root (with `.venv`).

It uses the same stage settings as the app (`--stage`, default `local`); against the local stack it talks to
the emulator of the running `make run`, found through its runtime file `.devstack/runtime.json`, with that
stack's settings (`AWS_EMULATOR_PORT` and the settings' variables, when set, win; with no stack up the
emulator port defaults to 4566). For `dev`/`prod` it uses your AWS credentials.
Not imported by the app: `rich` (progress and tables) is a development dependency.
"""

from __future__ import annotations

import argparse
import getpass
import inspect
import json
import os
import sys
from typing import Any


def _setup(stage: str) -> None:
    from chalicelib.ops import stage as stage_env

    if stage == "local":
        stage_env.apply_local()
    else:
        stage_env.apply(stage, None)


def _console() -> Any:
    from rich.console import Console

    return Console()


def cmd_create_admin(args: argparse.Namespace) -> int:
    from chalicelib.ops.seed import create_admin

    password = os.environ.get(args.password_env) if args.password_env else None
    if not password:
        password = getpass.getpass("Password for the new admin: ")
    admin = create_admin(password, account=args.account, phone=args.phone, name=args.name,
                         must_change=not args.no_forced_change)
    if admin is None:
        _console().print(f"[red]An account named {args.account!r} or with that phone already exists.[/red]")
        return 1
    _console().print(f"Admin [bold]{args.account}[/bold] created ({admin.user_id}).")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from chalicelib import deps
    from chalicelib.ops.seed import seed_demo

    admin = deps.accounts().get_by_login(args.admin)
    if admin is None or admin.role != "admin":
        _console().print(f"[red]No admin account {args.admin!r}: run create-admin first.[/red]")
        return 1
    demo = seed_demo(admin)
    console = _console()
    console.print(f"Demo community {demo.community_id} with {len(demo.unit_ids)} units.")
    for role, account, password in demo.logins:
        console.print(f"  {role:<11}{account:<12}{password}")
    return 0


def _period(value: str) -> str:
    """A billing period as the API takes it (ASCII digits only: "２０２６-10" would bill the month twice)."""
    from chalicelib.api.validation import PERIOD

    if not PERIOD.fullmatch(value):
        raise argparse.ArgumentTypeError("must be a billing period YYYY-MM")
    return value


def system_principal() -> Any:
    from chalicelib.domain.model import Principal

    return Principal.system("cli")


def cmd_billing_run(args: argparse.Namespace) -> int:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chalicelib import deps

    service = deps.billing()
    console = _console()
    if args.dry_run:
        community = deps.communities().get_community(args.community)
        if community is None:
            console.print(f"[red]No community {args.community}.[/red]")
            return 1
        page = deps.communities().list_units(args.community, None, 100, None)
        console.print(f"Would bill {community.name} for {args.period} (first page: {len(page.items)} units).")
        return 0
    run = service.start_run(system_principal(), args.community, args.period)
    console.print(f"Billing run {run.run_id} for {args.community} {args.period}: {run.status}")
    if not args.wait:
        return 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("units billed", total=run.units_total)
        deadline = time.monotonic() + args.timeout
        while run.status == "running" and time.monotonic() < deadline:
            time.sleep(1)
            run = service.get_run(system_principal(), run.run_id)
            progress.update(task, completed=run.units_done, total=run.units_total)
    console.print_json(json.dumps({"run_id": run.run_id, "status": run.status, "bills_created": run.bills_created,
                                   "units_done": run.units_done, "error": run.error}))
    return 0 if run.status == "done" else 1


def cmd_list_jobs(args: argparse.Namespace) -> int:
    from rich.table import Table

    from chalicelib.routes import SCHEDULES

    table = Table("job", "schedule (UTC)", "what it does")
    for job in sorted(SCHEDULES, key=lambda j: j.name):
        table.add_row(job.name, job.expression, job.description)
    _console().print(table)
    return 0


def cmd_run_job(args: argparse.Namespace) -> int:
    from chalicelib.events import schedules
    from chalicelib.routes import SCHEDULES

    known = {job.name for job in SCHEDULES}
    if args.name not in known:
        _console().print(f"[red]Unknown job {args.name!r}.[/red] Known: {', '.join(sorted(known))}")
        return 2
    fn = schedules.function(args.name)
    kwargs: dict[str, Any] = {}
    params = inspect.signature(fn).parameters
    if args.dry_run:
        if "dry_run" not in params:
            _console().print(f"[red]{args.name} has no dry-run mode.[/red]")
            return 2
        kwargs["dry_run"] = True
    if "progress" in params:
        kwargs["progress"] = _progress_callback()
    with _console().status(f"Running {args.name}…"):
        summary = fn(**kwargs)
    _console().print_json(json.dumps(summary, ensure_ascii=False, default=str))
    return 0


def cmd_rotate_keys(_args: argparse.Namespace) -> int:
    from chalicelib.ops.keys import rotate_token_keys

    kid = rotate_token_keys()
    _console().print(f"Token key [bold]{kid}[/bold] is current; the previous key is still accepted.")
    return 0


def cmd_backfill_owner_reads(_args: argparse.Namespace) -> int:
    from chalicelib.ops.backfill import backfill_owner_reads

    console = _console()
    with console.status("Backfilling owners' bill copies and the notice feed…"):
        done = backfill_owner_reads(lambda n, what: console.log(f"{n} {what}"))
    console.print_json(json.dumps({"units": done.units, "bills_attached": done.bills_attached,
                                   "notice_entries": done.notice_entries}))
    return 0


def cmd_check_payment_config(args: argparse.Namespace) -> int:
    from chalicelib.adapters.payments.registry import CONFIGURABLE
    from chalicelib.ops.payment_config import all_pass, check_payment_config

    required = [name.strip() for name in (args.require or "").split(",") if name.strip()]
    unknown = sorted(set(required) - set(CONFIGURABLE))
    if unknown:
        _console().print(f"[red]Unknown providers {unknown}.[/red] Known: {', '.join(CONFIGURABLE)}")
        return 2
    checks = check_payment_config()
    console = _console()
    for check in checks:  # one line each, never wrapped: deploy logs are read by scripts too
        colour = "green" if check.passes(check.provider in required) else "red"
        problem = f": {check.problem}" if check.problem else ""
        console.print(f"{check.provider:<8} {check.secret_name}  [{colour}]{check.state}[/{colour}]{problem}",
                      soft_wrap=True, highlight=False)
    passed = all_pass(checks, required)
    console.print("Payment configuration is usable." if passed else "[red]Payment configuration has problems.[/red]")
    return 0 if passed else 1


def _progress_callback() -> Any:
    """A callback `progress(done, total, label)` drawing a rich progress bar."""
    from rich.progress import Progress

    state: dict[str, Any] = {}

    def update(done: int, total: int | None, label: str = "") -> None:
        if "bar" not in state:
            state["bar"] = Progress(transient=False)
            state["bar"].start()
            state["task"] = state["bar"].add_task(label or "working", total=total)
        state["bar"].update(state["task"], completed=done, total=total, description=label or "working")
        if total is not None and done >= total:
            state["bar"].stop()

    return update


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local", choices=["local", "dev", "prod"],
                        help="whose settings and resources to use (default: local, the `make run` stack)")
    commands = parser.add_subparsers(dest="command", required=True)

    admin = commands.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--account", default="admin")
    admin.add_argument("--phone", required=True)
    admin.add_argument("--name", default="管理员")
    admin.add_argument("--password-env", help="read the password from this environment variable (else prompt)")
    admin.add_argument("--no-forced-change", action="store_true", help="do not require a change at first login")
    admin.set_defaults(handler=cmd_create_admin)

    demo = commands.add_parser("seed-demo", help="create the demo community, owners, staff and technician")
    demo.add_argument("--admin", default="admin", help="the admin account acting as creator")
    demo.set_defaults(handler=cmd_seed_demo)

    billing = commands.add_parser("billing-run", help="start (or resume) the billing run of a community and period")
    billing.add_argument("--community", required=True, help="community id")
    billing.add_argument("--period", required=True, type=_period, help="YYYY-MM")
    billing.add_argument("--wait", action="store_true", help="follow the run with a progress bar until it ends")
    billing.add_argument("--timeout", type=int, default=1800, help="seconds to wait with --wait")
    billing.add_argument("--dry-run", action="store_true", help="show what would be billed, change nothing")
    billing.set_defaults(handler=cmd_billing_run)

    jobs = commands.add_parser("list-jobs", help="list the scheduled jobs")
    jobs.set_defaults(handler=cmd_list_jobs)

    run = commands.add_parser("run-job", help="run a scheduled job once now (e.g. run-job fee-reminders)")
    run.add_argument("name")
    run.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    run.set_defaults(handler=cmd_run_job)

    backfill = commands.add_parser("backfill-owner-reads",
                                   help="give existing bills their owners' copies and targeted notices their "
                                        "community feed entry (idempotent; run once after deploying them)")
    backfill.set_defaults(handler=cmd_backfill_owner_reads)

    payment = commands.add_parser("check-payment-config",
                                  help="check every payment provider's secret as the app will read it (deploy time; "
                                       "exit 1 if one is missing or misconfigured)")
    payment.add_argument("--stage", choices=["local", "dev", "prod"], default=argparse.SUPPRESS,
                         help="as the global --stage")
    payment.add_argument("--require", help="comma-separated providers that must be configured, e.g. alipay,wechat")
    payment.set_defaults(handler=cmd_check_payment_config)

    rotate = commands.add_parser("rotate-keys", help="rotate the token signing keys now (receipt codes are kept)")
    rotate.set_defaults(handler=cmd_rotate_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.path.insert(0, os.getcwd())
    _setup(args.stage)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
