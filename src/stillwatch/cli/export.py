"""``stillwatch export``: STIX 2.1 bundles and malicious-use reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stillwatch.exceptions import InvalidInputError

export_app = typer.Typer(help="Export STIX 2.1 bundles and malicious-use reports.", no_args_is_help=True)

Out = Annotated[Path, typer.Option("--out", help="Output file.")]
CaseOpt = Annotated[int | None, typer.Option("--case", help="Case id.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", help="Cluster id.")]


def _one(case_id: int | None, cluster_id: str | None) -> None:
    if (case_id is None) == (cluster_id is None):
        raise InvalidInputError("give exactly one of --case or --cluster")


@export_app.command("stix")
def stix_cmd(
    ctx: typer.Context,
    out: Out,
    case_id: CaseOpt = None,
    cluster_id: ClusterOpt = None,
    tlp: Annotated[str, typer.Option(help="clear, green, amber or red")] = "amber",
) -> None:
    """Write a STIX 2.1 bundle of a case or a cluster."""
    from stillwatch.cases import audit
    from stillwatch.cases.db import open_store
    from stillwatch.cli.cases import _actor
    from stillwatch.export.stix import TLP, case_bundle, cluster_bundle

    _one(case_id, cluster_id)
    if tlp not in TLP:
        raise InvalidInputError(f"tlp must be one of {', '.join(TLP)}; got {tlp!r}")
    store = open_store(ctx.obj.settings.case_store_url)
    try:
        with store.session() as s:
            if case_id is not None:
                bundle = case_bundle(s, case_id, tlp=tlp)
            else:
                assert cluster_id is not None
                bundle = cluster_bundle(s, cluster_id, tlp=tlp)
            audit.record(
                s,
                _actor(ctx),
                "export.stix",
                "case" if case_id is not None else "cluster",
                case_id if case_id is not None else cluster_id,
                {"tlp": tlp, "out": str(out)},
            )
    finally:
        store.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(bundle.serialize(pretty=True), encoding="utf-8")
    typer.echo(f"wrote {len(bundle.objects)} STIX objects to {out}")


@export_app.command("report")
def report_cmd(
    ctx: typer.Context,
    out: Out,
    case_id: CaseOpt = None,
    cluster_id: ClusterOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    include_prompts: Annotated[
        bool, typer.Option("--include-prompts", help="Include raw prompt text of linked reports (audited).")
    ] = False,
    tlp: Annotated[str, typer.Option(help="clear, green, amber or red")] = "amber",
) -> None:
    """Write a malicious-use report (HTML or PDF) of a case or a cluster."""
    from stillwatch.cases import audit
    from stillwatch.cases.db import open_store
    from stillwatch.cli.cases import _actor
    from stillwatch.export.report import FORMATS, render_case_html, render_cluster_html, write_report

    _one(case_id, cluster_id)
    if fmt not in FORMATS:
        raise InvalidInputError(f"--format must be html or pdf; got {fmt!r}")
    store = open_store(ctx.obj.settings.case_store_url)
    try:
        with store.session() as s:
            if case_id is not None:
                html = render_case_html(s, case_id, include_prompts=include_prompts, tlp=tlp)
            else:
                assert cluster_id is not None
                html = render_cluster_html(s, cluster_id, include_prompts=include_prompts, tlp=tlp)
            audit.record(
                s,
                _actor(ctx),
                "export.report",
                "case" if case_id is not None else "cluster",
                case_id if case_id is not None else cluster_id,
                {"format": fmt, "include_prompts": include_prompts, "out": str(out)},
            )
    finally:
        store.dispose()
    write_report(html, fmt, out)
    typer.echo(f"wrote {fmt} report to {out}")


def register(app: typer.Typer) -> None:
    """Add the ``export`` command group."""
    app.add_typer(export_app, name="export")
