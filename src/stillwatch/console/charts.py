"""Charts of the finding, case and cluster pages: Altair / Vega-Lite specs rendered to SVG on the
server by vl-convert (no JavaScript, no network), shown as ``data:image/svg+xml`` images so that
nothing inside them can run.

Each chart is drawn only from data that exists: the finding's evidence and estimate, the cluster
record, or a :class:`ConsoleData` provider that reads the feature store. When the data for a chart
is absent the chart says so (``missing``) instead of drawing something invented.

Recognised evidence shapes (``feature`` → ``value`` / ``baseline``):

* ``hour_of_week`` (or ``how_profile``): a list of 168 shares, or ``{how: share}``; ``baseline``
  may be ``{"local": [...], "restricted": [...]}`` with the same shape.
* ``daily_volume``: ``{date: exchanges}``; ``baseline`` may be ``{"holidays": [date, ...]}``.
* ``template_shares``: ``{template: share}``; capabilities come from ``estimate.capabilities``.
* ``model_switches``: ``[{date, model, exchanges}]``; ``baseline`` may be ``{"launches": [{date, model}]}``.
* egress: evidence whose feature names an egress IP, network, ASN or hosting share (a table).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import OrderedDict
from typing import Any, Protocol

CHART_KEYS: tuple[str, ...] = ("hour_of_week", "daily_volume", "capabilities", "model_switches")
_EGRESS_WORDS = ("egress", "ip", "asn", "network", "hosting", "vpn", "proxy", "addr")
_CACHE: OrderedDict[str, str] = OrderedDict()
_CACHE_SIZE = 256


class ConsoleData(Protocol):
    """Optional source of per-account series (e.g. the feature store); set ``app.state.console_data``."""

    def account_series(self, account_id: str) -> dict[str, Any]:
        """``{"hour_of_week": {how: share}, "daily_volume": {date: n}, "model_switches": [...]}``; any may be absent."""
        ...


def svg_data_url(spec: dict[str, Any]) -> str:
    """Render a Vega-Lite spec to an SVG ``data:`` URL (cached by spec)."""
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    import vl_convert as vlc

    spec = {**spec, "config": {"legend": {"labelLimit": 320}, **spec.get("config", {})}}
    svg = vlc.vegalite_to_svg(spec)
    url = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    _CACHE[key] = url
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return url


def _evidence(findings: list[dict[str, Any]], *names: str) -> dict[str, Any] | None:
    for f in findings:
        for e in f.get("evidence") or []:
            if isinstance(e, dict) and e.get("feature") in names and isinstance(e.get("value"), list | dict):
                return e
    return None


def _how_series(value: Any) -> list[float] | None:
    if isinstance(value, list) and len(value) == 168 and all(isinstance(v, int | float) for v in value):
        return [float(v) for v in value]
    if isinstance(value, dict):
        out = [0.0] * 168
        for k, v in value.items():
            if str(k).isdigit() and 0 <= int(k) < 168 and isinstance(v, int | float):
                out[int(k)] = float(v)
        return out if any(out) else None
    return None


def hour_of_week(findings: list[dict[str, Any]], series: dict[str, Any]) -> dict[str, Any]:
    """Hour-of-week activity against local and restricted-region profiles."""
    title = "Hour-of-week activity (UTC) against local and restricted-region profiles"
    ev = _evidence(findings, "hour_of_week", "how_profile")
    own = _how_series(ev["value"]) if ev else _how_series(series.get("hour_of_week"))
    if own is None:
        why = "no hour-of-week profile in the evidence or the store"
        return {"key": "hour_of_week", "title": title, "missing": why}
    rows = [{"how": h, "share": v, "profile": "this entity"} for h, v in enumerate(own)]
    base = ev.get("baseline") if ev else series.get("hour_of_week_baseline")
    labels = {"local": "local (declared country)", "restricted": "restricted region"}
    for name, label in labels.items():
        ref = _how_series(base.get(name)) if isinstance(base, dict) else None
        rows += [{"how": h, "share": v, "profile": label} for h, v in enumerate(ref or [])]
    note = ("from the finding's evidence" if ev else
            "from the feature store; the two profiles are diurnal templates at the declared-country and "
            "restricted-region UTC offsets")
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 640,
        "height": 180,
        "data": {"values": rows},
        "mark": {"type": "line", "interpolate": "step"},
        "encoding": {
            "x": {"field": "how", "type": "quantitative", "title": "hour of week (0 = Monday 00:00 UTC)",
                  "scale": {"domain": [0, 167]}},
            "y": {"field": "share", "type": "quantitative", "title": "share of exchanges"},
            "color": {"field": "profile", "type": "nominal"},
        },
    }
    return {"key": "hour_of_week", "title": title, "svg": svg_data_url(spec), "note": note}


def daily_volume(findings: list[dict[str, Any]], series: dict[str, Any]) -> dict[str, Any]:
    """Daily exchanges with holidays marked."""
    title = "Daily volume, holidays marked"
    ev = _evidence(findings, "daily_volume")
    value = ev["value"] if ev else series.get("daily_volume")
    if not isinstance(value, dict) or not value:
        return {"key": "daily_volume", "title": title, "missing": "no daily volume in the evidence or the store"}
    base = (ev.get("baseline") if ev else None) or {}
    marked = (base.get("holidays") if isinstance(base, dict) else None) or series.get("holidays") or []
    holidays = {str(d)[:10] for d in marked}
    rows = [
        {"day": str(k)[:10], "exchanges": float(v), "holiday": "holiday" if str(k)[:10] in holidays else "ordinary day"}
        for k, v in sorted(value.items())
        if isinstance(v, int | float)
    ]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 640,
        "height": 180,
        "data": {"values": rows},
        "mark": "bar",
        "encoding": {
            "x": {"field": "day", "type": "ordinal", "title": "day (UTC)"},
            "y": {"field": "exchanges", "type": "quantitative"},
            "color": {"field": "holiday", "type": "nominal", "title": None,
                      "scale": {"domain": ["ordinary day", "holiday"], "range": ["#4c78a8", "#e45756"]}},
        },
    }
    return {"key": "daily_volume", "title": title, "svg": svg_data_url(spec)}


def capabilities(
    findings: list[dict[str, Any]], campaign: dict[str, Any] | None = None, series: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Template and capability shares (campaign, estimate.capabilities, the store, template_shares)."""
    title = "Template and capability shares"
    rows: list[dict[str, Any]] = []
    caps = (campaign or {}).get("capabilities")
    if not isinstance(caps, dict):
        caps = next(
            (f["estimate"]["capabilities"] for f in findings
             if isinstance(f.get("estimate"), dict) and isinstance(f["estimate"].get("capabilities"), dict)),
            None,
        )
    if not isinstance(caps, dict):
        caps = (series or {}).get("capabilities")
    for name, share in (caps or {}).items():
        if isinstance(share, int | float):
            rows.append({"name": str(name)[:80], "share": float(share), "group": "capability"})
    ev = _evidence(findings, "template_shares")
    if ev and isinstance(ev["value"], dict):
        rows += [
            {"name": str(k)[:80], "share": float(v), "group": "prompt template"}
            for k, v in ev["value"].items()
            if isinstance(v, int | float)
        ]
    if not rows:
        return {"key": "capabilities", "title": title, "missing": "no capability or template shares in the evidence"}
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 420,
        "height": {"step": 18},
        "data": {"values": rows[:60]},
        "mark": "bar",
        "encoding": {
            "y": {"field": "name", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "share", "type": "quantitative", "axis": {"format": "%"}},
            "color": {"field": "group", "type": "nominal", "title": None},
        },
    }
    return {"key": "capabilities", "title": title, "svg": svg_data_url(spec), "rows": rows[:60]}


def model_switches(findings: list[dict[str, Any]], series: dict[str, Any]) -> dict[str, Any]:
    """Exchanges per model per day, with model launches marked."""
    title = "Model switches around launches"
    ev = _evidence(findings, "model_switches")
    value = ev["value"] if ev else series.get("model_switches")
    rows = [
        {"day": str(r.get("date"))[:10], "model": str(r.get("model"))[:60], "exchanges": float(r.get("exchanges") or 0)}
        for r in (value if isinstance(value, list) else [])
        if isinstance(r, dict) and r.get("date") and r.get("model")
    ]
    if not rows:
        why = "no per-model daily use in the evidence or the store"
        return {"key": "model_switches", "title": title, "missing": why}
    base = (ev.get("baseline") if ev else None) or {}
    launches = [
        {"day": str(x.get("date"))[:10], "model": str(x.get("model"))[:60]}
        for x in (base.get("launches") if isinstance(base, dict) else None) or []
        if isinstance(x, dict) and x.get("date")
    ]
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": rows},
            "mark": "line",
            "encoding": {
                "x": {"field": "day", "type": "temporal", "title": "day (UTC)"},
                "y": {"field": "exchanges", "type": "quantitative"},
                "color": {"field": "model", "type": "nominal"},
            },
        }
    ]
    if launches:
        layers.append(
            {"data": {"values": launches}, "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#555"},
             "encoding": {"x": {"field": "day", "type": "temporal"}}}
        )
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": 640, "height": 180, "layer": layers}
    return {"key": "model_switches", "title": title, "svg": svg_data_url(spec)}


def egress_rows(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evidence items about egress (addresses, networks, ASNs, hosting/VPN shares) for the egress table."""
    out = []
    for f in findings:
        for e in f.get("evidence") or []:
            feat = str(e.get("feature", "")).lower() if isinstance(e, dict) else ""
            if any(w in feat.split("_") or feat.startswith(w) for w in _EGRESS_WORDS):
                out.append({"feature": e.get("feature"), "value": e.get("value"), "baseline": e.get("baseline"),
                            "why": e.get("why"), "finding_id": f.get("finding_id")})
    return out


def finding_charts(findings: list[dict[str, Any]], series: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every chart of a finding or case page, drawn or marked missing."""
    series = series or {}
    return [
        hour_of_week(findings, series),
        daily_volume(findings, series),
        capabilities(findings, None, series),
        model_switches(findings, series),
    ]


def link_graph(accounts: list[str], links: list[dict[str, Any]], limit: int = 150) -> dict[str, Any]:
    """The cluster's link graph as SVG: accounts on a circle, edges coloured by reason."""
    title = "Link graph"
    nodes = [str(a) for a in accounts][:limit]
    if len(nodes) < 2:
        return {"key": "graph", "title": title, "missing": "fewer than two accounts"}
    step = 2 * math.pi / len(nodes)
    pos = {a: (math.cos(step * i), math.sin(step * i)) for i, a in enumerate(nodes)}
    edges = [
        {"x": pos[str(lk.get("a"))][0], "y": pos[str(lk.get("a"))][1], "x2": pos[str(lk.get("b"))][0],
         "y2": pos[str(lk.get("b"))][1], "reason": str(lk.get("reason"))[:60]}
        for lk in links
        if isinstance(lk, dict) and str(lk.get("a")) in pos and str(lk.get("b")) in pos
    ][:2000]
    if not edges:
        return {"key": "graph", "title": title, "missing": "no links between the shown accounts"}
    points = [{"x": x, "y": y, "account": a[:40]} for a, (x, y) in pos.items()]
    axis = {"axis": None, "scale": {"domain": [-1.3, 1.3]}}
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 460,
        "height": 460,
        "layer": [
            {"data": {"values": edges}, "mark": {"type": "rule", "opacity": 0.6},
             "encoding": {"x": {"field": "x", "type": "quantitative", **axis},
                          "y": {"field": "y", "type": "quantitative", **axis},
                          "x2": {"field": "x2"}, "y2": {"field": "y2"},
                          "color": {"field": "reason", "type": "nominal"}}},
            {"data": {"values": points}, "mark": {"type": "circle", "size": 60, "color": "#333"},
             "encoding": {"x": {"field": "x", "type": "quantitative", **axis},
                          "y": {"field": "y", "type": "quantitative", **axis}}},
            {"data": {"values": points if len(points) <= 40 else []}, "mark": {"type": "text", "dy": -9, "fontSize": 9},
             "encoding": {"x": {"field": "x", "type": "quantitative", **axis},
                          "y": {"field": "y", "type": "quantitative", **axis}, "text": {"field": "account"}}},
        ],
        "config": {"view": {"stroke": None}},
    }
    return {"key": "graph", "title": title, "svg": svg_data_url(spec)}
