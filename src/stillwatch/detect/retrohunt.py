"""Retro-hunt: find every exchange and account that used a reported jailbreak, before and after.

Given a report (``reports.jsonl`` record or the case store's
:class:`~stillwatch.cases.retro_hunt.ReportForHunt`: ``report_id``, ``received_at``, ``prompt``
as text or a Messages array), every exchange in the store is compared with the report's
template, payload-insensitively:

1. texts are normalised and payload-masked (:func:`~stillwatch.detect.jailbreak_features.
   mask_payload`: slots, quoted spans, numbers, URLs, code); the *core* of a long text also drops
   its last paragraph when that is short (the request usually comes last);
2. similarity = max over (full, core) of max(MinHash Jaccard of character 4-gram shingles — the
   enrichment's signature —, cosine of the classifier's hashed n-gram vectors);
3. an exchange is a hit when its best text reaches ``threshold``.

When enrichment has run, the scan is narrowed first: the enrichment's per-distinct-text MinHash
(``texts.minhash``, raw-text signatures) is compared with the report's in numpy, candidate texts
(estimated Jaccard >= :data:`PREFILTER`) are mapped to exchanges through ``exchanges_enriched``
(``sys_hash``, ``first_user_hash``, ``last_user_hash``), and only those exchanges — plus every
exchange newer than the enriched data — are scored exactly. ``indexed=False`` forces a full scan,
and so does a store enriched with ``text_sample_rate`` < 1 (its sampled-out texts have no MinHash).

Each distinct text is scored once (repeated templates cost nothing). Hits come with exchange
findings and one account finding per account, all carrying ``report_id``.
:class:`EngineRetroHunt` implements the case store's ``RetroHunt`` protocol, so reports that arrive
by API get their hits attached: ``create_app(settings, retro_hunt=EngineRetroHunt(settings))``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from stillwatch.detect.evidence import Evidence
from stillwatch.detect.findings import Finding, finding_id, parse_ts, rfc3339
from stillwatch.detect.jailbreak_features import exchange_texts, mask_payload, vectorise
from stillwatch.enrich.templates import signature
from stillwatch.exceptions import InputFormatError, NotFoundError

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

DETECTOR = "jailbreak_retrohunt"
VERSION = "1"
DEFAULT_THRESHOLD = 0.6
#: Raw-text MinHash Jaccard a text needs to be re-scored on the indexed path.
PREFILTER = 0.2
#: Above this many candidate texts the indexed path gives up and scans everything.
MAX_CANDIDATES = 50_000
_PARA = re.compile(r"\n\s*\n|(?<=[.!?:。！？：])\s+(?=[^.!?:。！？：]{0,400}$)")
_COLUMNS = ("request_id", "ts", "account_id", "api_key_id", "system_text", "user_texts")


@dataclass(frozen=True, slots=True)
class Hit:
    """One exchange that used the reported jailbreak."""

    request_id: str
    account_id: str
    api_key_id: str | None
    ts: datetime
    similarity: float
    when: str  # "before" or "after" the report was received ("unknown" without received_at)
    finding_id: str

    def to_protocol(self) -> dict[str, Any]:
        """The case store's ``RetroHuntHit`` dict."""
        return {
            "request_id": self.request_id,
            "account_id": self.account_id,
            "api_key_id": self.api_key_id or "",
            "ts": rfc3339(self.ts) or "",
            "score": round(self.similarity, 4),
            "finding_id": self.finding_id,
            "why": f"template similarity {self.similarity:.2f} to the reported jailbreak ({self.when} the report)",
        }


@dataclass
class HuntResult:
    """Hits and findings of one retro-hunt."""

    report_id: str
    hits: list[Hit] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


# ------------------------------------------------------------------------------ report text
def report_texts(report: dict[str, Any]) -> list[str]:
    """The texts of a report to hunt for: every system/user message, or the prompt text.

    Raises:
        InputFormatError: The report has no usable prompt.
    """
    prompt = report.get("prompt")
    texts: list[str] = []
    if isinstance(prompt, str):
        texts.append(prompt)
    elif isinstance(prompt, dict):
        prompt = prompt.get("messages") or [prompt]
    if isinstance(prompt, list):
        for msg in prompt:
            if isinstance(msg, str):
                texts.append(msg)
            elif isinstance(msg, dict) and msg.get("role", "user") in ("user", "system", "human"):
                texts.append(_content_text(msg.get("content")))
    if not any(t.strip() for t in texts) and isinstance(report.get("prompt_text"), str):
        texts = [report["prompt_text"]]
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise InputFormatError(f"report {report.get('report_id')!r} has no prompt text", hint="send prompt as text")
    return texts


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def core(masked: str) -> str:
    """A masked text without its last short paragraph or sentence (where requests usually go)."""
    if len(masked) < 200:
        return masked
    parts = [p for p in _PARA.split(masked) if p and p.strip()]
    if len(parts) < 2 or len(parts[-1]) > 0.35 * len(masked):
        return masked
    return masked[: masked.rfind(parts[-1])].strip() or masked


# ------------------------------------------------------------------------------- similarity
class TemplateMatcher:
    """Payload-insensitive similarity of texts to one or more query texts.

    Args:
        queries: Report texts.
    """

    def __init__(self, queries: list[str]) -> None:
        forms: list[str] = []
        for q in queries:
            m = mask_payload(q)
            forms.extend({m, core(m)})
        self.forms = [f for f in forms if f]
        self.sigs = np.stack([_sig(f) for f in self.forms])
        self.vecs = vectorise(self.forms, masked=True)
        self._cache: dict[str, float] = {}

    def similarity(self, texts: list[str]) -> list[float]:
        """Similarity of each text to the closest query form, in [0, 1]."""
        out: list[float | None] = []
        todo: dict[str, list[str]] = {}
        for t in texts:
            key = hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
            out.append(self._cache.get(key))
            if out[-1] is None:
                todo.setdefault(key, []).append(t)
        if todo:
            keys = list(todo)
            masked = [mask_payload(todo[k][0]) for k in keys]
            forms = [(m, core(m)) for m in masked]
            flat = [f for pair in forms for f in pair]
            cos = (vectorise(flat, masked=True) @ self.vecs.T).toarray().max(axis=1) if flat else np.zeros(0)
            for i, k in enumerate(keys):
                jac = max(float((self.sigs == _sig(f)).mean(axis=1).max()) for f in forms[i] if f)
                self._cache[k] = round(min(1.0, max(jac, float(cos[2 * i]), float(cos[2 * i + 1]))), 4)
        return [
            self._cache[hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()]
            if v is None
            else v
            for t, v in zip(texts, out, strict=True)
        ]


def _sig(text: str) -> np.ndarray:
    sig = signature(text)
    return sig if sig is not None else np.zeros(64, dtype=np.uint32)


# ------------------------------------------------------------------------------------- hunt
def retro_hunt(
    engine: Engine,
    settings: Settings | None,  # noqa: ARG001 - kept for the documented signature
    report: dict[str, Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    batch_rows: int = 20_000,
    indexed: bool = True,
) -> HuntResult:
    """Search all exchanges (before and after the report) for the reported jailbreak.

    Args:
        engine: Engine over the store (reads the ``exchanges`` table).
        settings: Settings (unused today; part of the stable signature).
        report: ``report_id``, ``received_at`` and ``prompt`` (text or Messages array).
        threshold: Minimum payload-insensitive similarity for a hit.
        batch_rows: Rows per Arrow batch while scanning.
        indexed: Narrow the scan with the enrichment's MinHash index when it exists.

    Returns:
        Hits sorted by time, exchange findings and account findings, all with ``report_id``.

    Raises:
        InputFormatError: The report has no id or no prompt text.
    """
    report_id = str(report.get("report_id") or "").strip()
    if not report_id:
        raise InputFormatError("report has no report_id")
    received = parse_ts(report.get("received_at") or None) if report.get("received_at") else None
    matcher = TemplateMatcher(report_texts(report))
    result = HuntResult(report_id)
    if not engine.has_table("exchanges"):
        return result
    t = engine.table("exchanges").select(*_COLUMNS)
    narrowed = _narrow(engine, t, report_texts(report)) if indexed else None
    if narrowed is not None:
        t = narrowed
    det_name = f"{DETECTOR}/{report_id}"
    for batch in engine.batches(t, batch_rows=batch_rows):
        cols = {c: batch.column(c).to_pylist() for c in _COLUMNS}
        per_row = [
            exchange_texts(s, u, all_turns=True) for s, u in zip(cols["system_text"], cols["user_texts"], strict=True)
        ]
        sims = matcher.similarity([x for texts in per_row for x in texts])
        pos = 0
        for i, texts in enumerate(per_row):
            best = max(sims[pos : pos + len(texts)], default=0.0)
            pos += len(texts)
            if best < threshold:
                continue
            ts = cols["ts"][i]
            ts = ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts
            when = "unknown" if received is None or ts is None else "after" if ts >= received else "before"
            rid = str(cols["request_id"][i])
            result.hits.append(
                Hit(
                    rid,
                    str(cols["account_id"][i]),
                    cols["api_key_id"][i],
                    ts,
                    best,
                    when,
                    finding_id("jailbreak", "exchange", rid, det_name),
                )
            )
    result.hits.sort(key=lambda h: (h.ts, h.request_id))
    result.findings = _findings(result.hits, report_id, det_name, threshold)
    return result


def _narrow(engine: Engine, t: Any, texts: list[str]) -> Any | None:
    """Exchanges worth scoring exactly, from the enrichment's text index; ``None`` = scan all."""
    import ibis

    if not (engine.has_table("texts") and engine.has_table("exchanges_enriched")):
        return None
    texts_table = engine.table("texts")
    if "depth" in texts_table.columns:  # sampled texts (text_sample_rate < 1) have no MinHash to narrow by
        light = texts_table.filter(texts_table.depth == "light").count()
        if int(engine.execute(light).column(0)[0].as_py()):
            return None
    queries = np.stack([_sig(x) for x in texts])
    candidates: list[str] = []
    index = engine.table("texts").select("text_hash", "minhash")
    for batch in engine.batches(index.filter(index.minhash.notnull()), batch_rows=100_000):
        hashes = batch.column("text_hash").to_pylist()
        blobs = batch.column("minhash").to_pylist()
        ok = [i for i, b in enumerate(blobs) if b is not None and len(b) == 256]
        if not ok:
            continue
        sigs = np.frombuffer(b"".join(blobs[i] for i in ok), dtype=np.uint32).reshape(len(ok), 64)
        sims = (sigs[:, None, :] == queries[None, :, :]).mean(axis=2).max(axis=1)
        candidates.extend(hashes[ok[j]] for j in np.flatnonzero(sims >= PREFILTER))
        if len(candidates) > MAX_CANDIDATES:
            return None
    enriched = engine.table("exchanges_enriched")
    last = engine.execute(enriched.ts.max()).column(0)[0].as_py()
    cond = ibis.literal(False)
    if candidates:
        keys = sorted(set(candidates))
        hit = enriched.filter(
            enriched.sys_hash.isin(keys) | enriched.first_user_hash.isin(keys) | enriched.last_user_hash.isin(keys)
        ).select("request_id")
        ids = engine.execute(hit).column("request_id").to_pylist()
        if ids:
            cond = t.request_id.isin(sorted(set(ids)))
    if last is not None:
        cond = cond | (t.ts > ibis.literal(last))
    else:
        return None
    return t.filter(cond)


def _findings(hits: list[Hit], report_id: str, det_name: str, threshold: float) -> list[Finding]:
    detector = {"name": det_name, "version": VERSION, "params": {"threshold": threshold, "report_id": report_id}}
    if not hits:
        return []
    window = (min(h.ts for h in hits), max(h.ts for h in hits))
    out = [
        Finding(
            kind="jailbreak",
            entity="exchange",
            entity_id=h.request_id,
            score=h.similarity,
            detector=detector,
            evidence=[
                Evidence(
                    "report_template_similarity",
                    h.similarity,
                    threshold,
                    f"uses the jailbreak of report {report_id} ({h.when} the report)",
                    "extraction",
                )
            ],
            exchanges=[h.request_id],
            accounts=[h.account_id],
            window_from=window[0],
            window_to=window[1],
            first_flagged_at=h.ts,
            report_id=report_id,
        )
        for h in hits
    ]
    by_account: dict[str, list[Hit]] = {}
    for h in hits:
        by_account.setdefault(h.account_id, []).append(h)
    for acc, group in sorted(by_account.items()):
        before = sum(h.when == "before" for h in group)
        after = sum(h.when == "after" for h in group)
        ev = [
            Evidence(
                "report_hits",
                len(group),
                {"before": before, "after": after},
                f"exchanges using the jailbreak of report {report_id}",
                "extraction",
            ),
            Evidence(
                "report_first_seen",
                rfc3339(group[0].ts),
                rfc3339(group[-1].ts),
                "first and last use in the store",
                "timing",
            ),
        ]
        out.append(
            Finding(
                kind="jailbreak",
                entity="account",
                entity_id=acc,
                score=max(h.similarity for h in group),
                detector=detector,
                evidence=ev,
                exchanges=[h.request_id for h in group],
                accounts=[acc],
                window_from=group[0].ts,
                window_to=group[-1].ts,
                first_flagged_at=group[0].ts,
                report_id=report_id,
            )
        )
    return out


class EngineRetroHunt:
    """The case store's ``RetroHunt`` protocol over the store of ``settings``.

    Each call opens the configured engine, hunts, writes the findings to
    ``<data_dir>/findings/retrohunt-<report_id>.jsonl`` (when ``write_findings``) and returns the
    hits as ``RetroHuntHit`` dicts.

    Args:
        settings: Settings of the store to search.
        threshold: Minimum similarity for a hit.
        write_findings: Whether to write the findings file.
    """

    def __init__(self, settings: Settings, threshold: float = DEFAULT_THRESHOLD, write_findings: bool = True) -> None:
        self.settings = settings
        self.threshold = threshold
        self.write_findings = write_findings

    def __call__(self, report: Any) -> list[Any]:
        """Hunt for one report and return its hits (``RetroHuntHit`` dicts)."""
        from pathlib import Path

        from stillwatch.detect.findings import write_jsonl
        from stillwatch.engine import get_engine

        if not isinstance(report, dict):
            raise NotFoundError("retro-hunt needs a report dict")
        with get_engine(self.settings) as engine:
            result = retro_hunt(engine, self.settings, report, threshold=self.threshold)
        if self.write_findings and result.findings:
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", result.report_id)[:120]
            write_jsonl(result.findings, Path(self.settings.data_dir) / "findings" / f"retrohunt-{safe}.jsonl")
        return [h.to_protocol() for h in result.hits]
