"""``stillwatch cases``: the case store from the command line.

The CLI acts as a local administrator (whoever can open the case-store file has every right
anyway); audit events carry the OS user name, or ``--as NAME``, with source ``cli``.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from stillwatch.cases.db import Store
    from stillwatch.security.permissions import Actor

console = Console()
cases_app = typer.Typer(help="Cases, decisions, enforcement, users.", no_args_is_help=True)
users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
cases_app.add_typer(users_app, name="users")


def _actor(ctx: typer.Context) -> Actor:
    from stillwatch.security.permissions import Actor

    name = getattr(ctx.obj, "cases_as", None) or os.environ.get("STILLWATCH_USER") or getpass.getuser()
    return Actor(username=str(name)[:64], role="admin", source="cli")


def _store(ctx: typer.Context) -> Store:
    from stillwatch.cases.db import open_store  # SQLAlchemy: imported when a case command runs

    return open_store(ctx.obj.settings.case_store_url)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@cases_app.callback()
def cases_root(
    ctx: typer.Context,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Name recorded in the audit log [env STILLWATCH_USER].")
    ] = None,
) -> None:
    """Work cases: import findings, decide, enforce, manage users."""
    if ctx.obj is not None:
        ctx.obj.cases_as = as_user


@cases_app.command("init")
def init_cmd(ctx: typer.Context) -> None:
    """Create or migrate the case store (idempotent)."""
    store = _store(ctx)
    from stillwatch.cases.db import current_revision

    typer.echo(f"case store ready at revision {current_revision(store.engine)}")
    store.dispose()


@cases_app.command("import")
def import_cmd(
    ctx: typer.Context,
    findings: Annotated[Path, typer.Argument(help="findings.jsonl (findings-v1; .gz allowed)")],
    clusters: Annotated[
        Path | None, typer.Option("--clusters", help="clusters.jsonl (default: next to findings)")
    ] = None,
) -> None:
    """Open or join cases from findings (re-runs never duplicate cases)."""
    from stillwatch.cases.intake import open_cases_from_findings

    result = open_cases_from_findings(ctx.obj.settings, findings, clusters, actor=_actor(ctx))
    typer.echo(
        f"opened {len(result.opened)} case(s), attached {result.attached}, updated {result.updated}, "
        f"shadow {result.shadow}, unreadable {len(result.errors)}"
    )
    for line, reason in result.errors[:20]:
        typer.echo(f"  line {line}: {reason}", err=True)


@cases_app.command("import-reports")
def import_reports_cmd(
    ctx: typer.Context, reports: Annotated[Path, typer.Argument(help="reports.jsonl (provider-logs-v1 §4)")]
) -> None:
    """Add jailbreak reports to the triage queue (no retro-hunt hook from the CLI)."""
    from stillwatch.cases.reports_triage import import_reports

    store = _store(ctx)
    try:
        with store.session() as s:
            result = import_reports(s, reports, _actor(ctx))
    finally:
        store.dispose()
    typer.echo(f"imported reports; already known {result.updated}, refused {len(result.errors)}")
    for line, reason in result.errors[:20]:
        typer.echo(f"  line {line}: {reason}", err=True)


@cases_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open, confirmed or closed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List cases, highest score first."""
    from stillwatch.cases.workflow import list_cases

    store = _store(ctx)
    try:
        with store.session() as s:
            page = list_cases(s, _actor(ctx), status=status, limit=limit, offset=offset)
    finally:
        store.dispose()
    if as_json:
        _echo_json(page.as_dict())
        return
    table = Table(title=f"cases ({page.total})")
    for col in ("id", "status", "severity", "score", "kind", "entity", "assignee"):
        table.add_column(col)
    for c in page.items:
        table.add_row(
            str(c["id"]),
            c["status"],
            c["severity"],
            f"{c['score']:.2f}",
            c["kind"],
            f"{c['entity_type']} {c['entity_id']}",
            c["assignee"] or "",
        )
    console.print(table)


@cases_app.command("show")
def show_cmd(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one case with findings, notes and decisions (audited)."""
    from stillwatch.cases.workflow import view_case

    store = _store(ctx)
    try:
        with store.session() as s:
            case = view_case(s, case_id, _actor(ctx))
    finally:
        store.dispose()
    if as_json:
        _echo_json(case)
        return
    typer.echo(f"case {case['id']} [{case['status']}] {case['title']}")
    typer.echo(f"severity {case['severity']}, score {case['score']:.2f}, assignee {case['assignee'] or '-'}")
    for f in case["findings"]:
        typer.echo(f"  finding {f['finding_id']}: {f['kind']} score {f['score']} by {f['detector']['name']}")
        for ev in f.get("evidence") or []:
            typer.echo(f"    - {ev.get('why') or ev.get('feature')}")
    for n in case["notes"]:
        typer.echo(f"  note by {n['author']}: {n['body']}")
    for d in case["decisions"]:
        typer.echo(f"  decision {d['outcome']} by {d['by']}: {d['reason']}")


def _run(ctx: typer.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    store = _store(ctx)
    try:
        with store.session() as s:
            return fn(s, *args, **kwargs)
    finally:
        store.dispose()


@cases_app.command("assign")
def assign_cmd(
    ctx: typer.Context, case_id: int, user: Annotated[str, typer.Argument(help="user name, or - to unassign")]
) -> None:
    """Assign a case to a user."""
    from stillwatch.cases.workflow import assign

    _run(ctx, assign, case_id, None if user == "-" else user, _actor(ctx))
    typer.echo(f"case {case_id} assigned to {user}")


@cases_app.command("note")
def note_cmd(ctx: typer.Context, case_id: int, text: str) -> None:
    """Add a note to a case."""
    from stillwatch.cases.workflow import add_note

    _run(ctx, add_note, case_id, text, _actor(ctx))
    typer.echo(f"note added to case {case_id}")


@cases_app.command("decide")
def decide_cmd(
    ctx: typer.Context,
    case_id: int,
    outcome: Annotated[str, typer.Argument(help="confirmed, benign or needs_more_data")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
) -> None:
    """Decide an open case."""
    from stillwatch.cases.workflow import decide

    status = _run(ctx, lambda s: decide(s, case_id, outcome, reason, _actor(ctx)).status)
    typer.echo(f"case {case_id} decided {outcome}; now {status}")


@cases_app.command("enforce")
def enforce_cmd(
    ctx: typer.Context,
    target_type: Annotated[str, typer.Argument(help="account, api_key, cluster or egress")],
    target: Annotated[str, typer.Argument(help="the id, or an IP address / CIDR network")],
    action: Annotated[str, typer.Argument(help="warn, throttle, challenge, suspend or ban")],
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")],
    case_id: Annotated[int | None, typer.Option("--case", help="The confirmed case this follows from.")] = None,
    expires_hours: Annotated[float | None, typer.Option("--expires-hours", min=0.01)] = None,
) -> None:
    """Take an enforcement action."""
    from stillwatch.cases.enforcement import take_action
    from stillwatch.cases.models import utcnow

    expires = utcnow() + timedelta(hours=expires_hours) if expires_hours else None
    action_id = _run(
        ctx,
        lambda s: (
            take_action(s, target_type, target, action, reason, _actor(ctx), case_id=case_id, expires_at=expires).id
        ),
    )
    typer.echo(f"action {action_id}: {action} {target_type} {target}")


@cases_app.command("reverse")
def reverse_cmd(
    ctx: typer.Context, action_id: int, reason: Annotated[str, typer.Option("--reason", help="Why (required).")]
) -> None:
    """Reverse an enforcement action."""
    from stillwatch.cases.enforcement import reverse_action

    _run(ctx, reverse_action, action_id, reason, _actor(ctx))
    typer.echo(f"action {action_id} reversed")


@cases_app.command("enforcement-list")
def enforcement_list_cmd(
    ctx: typer.Context, as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of JSON.")] = False
) -> None:
    """Print the current enforcement list."""
    from stillwatch.cases.enforcement import enforcement_list

    current = _run(ctx, enforcement_list)
    if as_csv:
        typer.echo(current.to_csv(), nl=False)
    else:
        _echo_json(current.as_dict())


@users_app.command("add")
def users_add(
    ctx: typer.Context, username: str, role: Annotated[str, typer.Argument(help="viewer, analyst, lead or admin")]
) -> None:
    """Create a user."""
    from stillwatch.cases.auth import create_user

    _run(ctx, create_user, username, role, _actor(ctx))
    typer.echo(f"user {username} ({role}) created")


@users_app.command("token")
def users_token(ctx: typer.Context, username: str, name: Annotated[str, typer.Option(help="token label")] = "") -> None:
    """Issue an API token (printed once; only its hash is stored)."""
    from stillwatch.cases.auth import issue_token

    typer.echo(_run(ctx, issue_token, username, _actor(ctx), name=name))


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List users."""
    from sqlalchemy import select

    from stillwatch.cases.auth import user_to_dict
    from stillwatch.cases.models import User

    rows = _run(ctx, lambda s: [user_to_dict(u) for u in s.scalars(select(User).order_by(User.username))])
    for u in rows:
        typer.echo(f"{u['username']}\t{u['role']}\t{'active' if u['active'] else 'inactive'}")


def register(app: typer.Typer) -> None:
    """Add the ``cases`` command group."""
    app.add_typer(cases_app, name="cases")
