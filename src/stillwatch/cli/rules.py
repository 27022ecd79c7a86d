"""``stillwatch rules``: list rules, run their inline tests, regenerate or check the manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stillwatch.exceptions import RuleError

rules_app = typer.Typer(help="Detection rules as code: list, test, manifest.", no_args_is_help=True)
console = Console()

DirOption = Annotated[Path | None, typer.Option("--dir", help="Rules directory (default: the built-in rules).")]


@rules_app.command("list")
def list_cmd(
    directory: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every rule with its id, status, level and version."""
    from stillwatch.rules import load_rules

    rules = load_rules(directory)
    if as_json:
        rows = [
            {"id": r.id, "name": r.name, "title": r.title, "status": r.status, "level": r.level,
             "version": r.version, "kind": r.kind, "tests": len(r.tests)}
            for r in rules
        ]  # fmt: skip
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"{len(rules)} rules")
    for col in ("name", "id", "status", "level", "version", "kind", "tests"):
        table.add_column(col)
    for r in rules:
        table.add_row(escape(r.name), r.id, r.status, r.level, str(r.version), r.kind, str(len(r.tests)))
    console.print(table)


@rules_app.command("test")
def test_cmd(directory: DirOption = None) -> None:
    """Run every rule's inline positive and negative tests (exit 2 on any failure)."""
    from stillwatch.rules import load_rules
    from stillwatch.rules.runner import run_tests

    outcomes = run_tests(load_rules(directory))
    failed = [o for o in outcomes if not o.passed]
    for o in failed:
        console.print(
            f"[red]FAIL[/] {escape(o.rule_name)}: {escape(o.test)} (expected {'match' if o.expect else 'no match'})"
        )
    console.print(f"{len(outcomes) - len(failed)}/{len(outcomes)} rule tests passed")
    if failed:
        raise RuleError(f"{len(failed)} rule test(s) failed", hint="fix the rule or its test, then bump its version")


@rules_app.command("manifest")
def manifest_cmd(
    directory: DirOption = None,
    check: Annotated[bool, typer.Option("--check", help="Only check the manifest is current.")] = False,
) -> None:
    """Regenerate ``manifest.json`` (versions and content hashes), or check it with --check."""
    from stillwatch.rules.manifest import check_manifest, write_manifest

    if check:
        problems = check_manifest(directory)
        if problems:
            raise RuleError("rules manifest is not current:\n" + "\n".join(problems),
                            hint="bump changed rules' version, then run `stillwatch rules manifest`")  # fmt: skip
        console.print("manifest is current")
        return
    problems = [p for p in check_manifest(directory) if "was not bumped" in p]
    if problems:
        raise RuleError("\n".join(problems), hint="bump the version of every changed rule first")
    console.print(f"wrote {escape(str(write_manifest(directory)))}")


@rules_app.command("run")
def run_cmd(
    ctx: typer.Context,
    directory: DirOption = None,
    include_deprecated: Annotated[
        bool, typer.Option("--include-deprecated", help="Also run deprecated rules.")
    ] = False,
) -> None:
    """Run the rules over the store's exchanges; write the ``rule_hits`` table (status kept per hit)."""
    from stillwatch.engine import get_engine
    from stillwatch.rules import load_rules
    from stillwatch.rules.runner import run_rules

    rules = load_rules(directory)
    with get_engine(ctx.obj.settings) as engine:
        hits = run_rules(engine, rules, include_deprecated=include_deprecated)
        if hits.num_rows:
            engine.write_table("rule_hits", hits)
    counts: dict[str, int] = {}
    for rid in hits.column("rule_id").to_pylist():
        counts[rid] = counts.get(rid, 0) + 1
    names = {r.id: r.name for r in rules}
    for rid, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        console.print(f"{n:>8}  {escape(names.get(rid, rid))}")
    console.print(f"{hits.num_rows} rule hits")


def register(app: typer.Typer) -> None:
    """Add the rules command group."""
    app.add_typer(rules_app, name="rules")
