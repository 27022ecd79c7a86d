"""The evaluation table (rich) and JSON output of ``stillwatch eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _hours(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} h"


def tables(result: dict[str, Any]) -> list[Table]:
    """Rich tables: abuse kinds, benign groups, sub-routing estimates."""
    kinds = Table(title="per abuse kind (accounts)")
    for col in (
        "kind",
        "positives",
        "flagged",
        "precision",
        "recall",
        "exchange recall",
        "campaigns found",
        "TTD median",
        "TTD p90",
    ):
        kinds.add_column(col, justify="left" if col == "kind" else "right")
    for kind, m in result["kinds"].items():
        if not m["positives"] and not m["flagged"]:
            continue
        flagged = str(m["flagged"]) + (f" ({m['returning_operators']} ret.)" if m.get("returning_operators") else "")
        flagged += f" ({m['secondary_positives']} sec.)" if m.get("secondary_positives") else ""
        kinds.add_row(kind, str(m["positives"]), flagged, _pct(m["precision"]), _pct(m["recall"]),
                      _pct(m["exchange_recall"]), f"{m['campaigns_found']}/{m['campaigns']}",
                      _hours(m["ttd_median_h"]), _hours(m["ttd_p90_h"]))  # fmt: skip
    groups = Table(title="per benign group (false positives)")
    for col in ("group", "accounts", "flagged", "FPR", "95% interval (Wilson)"):
        groups.add_column(col, justify="left" if col == "group" else "right")
    for g, m in result["benign_groups"].items():
        groups.add_row(
            g, str(m["accounts"]), str(m["flagged"]), _pct(m["fpr"]), f"{_pct(m['fpr_low'])} – {_pct(m['fpr_high'])}"
        )
    sub = Table(title="sub-routing share estimates")
    for col in ("account", "truth", "estimate", "interval", "abs error", "covered"):
        sub.add_column(col, justify="left" if col == "account" else "right")
    for r in result["subrouting"]["accounts"]:
        if "estimate" in r:
            sub.add_row(
                r["account_id"],
                _pct(r["truth"]),
                _pct(r["estimate"]),
                f"{_pct(r['low'])} – {_pct(r['high'])}",
                f"{r['abs_error'] * 100:.1f} pp",
                "yes" if r["covered"] else "NO",
            )
        else:
            sub.add_row(r["account_id"], _pct(r["truth"]), "not detected", "-", "-", "NO")
    return [kinds, groups, sub]


def print_report(result: dict[str, Any], console: Console | None = None) -> None:
    """Print the evaluation tables."""
    console = console or Console()
    for t in tables(result):
        console.print(t)
    ret = (result["kinds"].get("ban_evasion") or {}).get("returning_operators")
    if ret:
        console.print(
            f"ban_evasion: {ret} flagged account(s) are returning operators (labelled with their campaign's "
            "kind, linked to an enforced account of the same campaign): counted correct for precision"
        )
    for kind, m in result["kinds"].items():
        if m.get("secondary_positives"):
            console.print(
                f"{kind}: {m['secondary_positives']} flagged account(s) carry another account label but their own "
                f"exchanges are labelled {kind} (secondary positives): counted correct for precision; "
                f"precision with the account label only: {_pct(m.get('precision_strict'))}"
            )
    meta = result.get("meta", {})
    if meta:
        console.print(
            f"replay: {meta.get('steps')} steps ({meta.get('step')}), {meta.get('seconds', 0):.0f} s; "
            f"{result['totals']['findings']} findings ({result['totals']['shadow']} shadow)"
        )


def write_json(result: dict[str, Any], path: Path | str) -> Path:
    """Write the evaluation result as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path
