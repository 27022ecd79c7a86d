"""The enrich stage: ``exchanges`` → ``exchanges_enriched`` (by day) and ``texts`` (by hash).

Incremental: only days whose ``exchanges`` partitions changed since the last run (or that
``until`` cuts) are recomputed — every day when :data:`~stillwatch.enrich.rows.ENRICH_VERSION` or
the relay indicator file's version changed — and only text hashes not yet in ``texts`` are analysed.
The Python work runs through :meth:`Engine.map_batches`, so DuckDB and Spark share one code path.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import ibis

from stillwatch.enrich.client import load_indicators
from stillwatch.enrich.rows import ENRICH_VERSION, ENRICHED_SCHEMA, INPUT_COLUMNS, exchange_batch_fn
from stillwatch.enrich.state import Manifest, check_text_sample_rate, days_until, partition_fingerprints
from stillwatch.enrich.texts import TEXT_OCCURRENCE_SCHEMA, TEXTS_SCHEMA, extract_texts, text_batch_fn, warm
from stillwatch.exceptions import SchemaError

if TYPE_CHECKING:
    from stillwatch.config import Settings
    from stillwatch.engine import Engine

ENRICHED_TABLE = "exchanges_enriched"
TEXTS_TABLE = "texts"
#: Distinct texts per batch (about 2 s of analysis): small enough to keep every worker busy.
TEXT_BATCH_ROWS = 2_048


@dataclass
class EnrichResult:
    """What one enrich run did.

    Attributes:
        days: Days recomputed.
        exchanges: Exchanges enriched.
        new_texts: Distinct texts analysed (not seen before).
        seconds: Wall time.
    """

    days: list[str] = field(default_factory=list)
    exchanges: int = 0
    new_texts: int = 0
    seconds: float = 0.0


def _as_utc(until: datetime | None) -> datetime | None:
    if until is None:
        return None
    return until.replace(tzinfo=UTC) if until.tzinfo is None else until.astimezone(UTC)


def enrich(engine: Engine, settings: Settings, until: datetime | None = None, *, full: bool = False) -> EnrichResult:
    """Enrich exchanges into ``exchanges_enriched`` and ``texts``.

    Args:
        engine: DuckDB or Spark engine.
        settings: Settings (``restricted_regions`` is read here, nowhere else).
        until: Ignore exchanges at or after this instant (naive means UTC).
        full: Recompute every day, ignoring the manifest.

    Returns:
        An :class:`EnrichResult`.

    Raises:
        NotFoundError: There is no ``exchanges`` table.
        SchemaError: ``exchanges`` lacks canonical columns.
    """
    start = time.perf_counter()
    until = _as_utc(until)
    source = engine.table("exchanges")
    missing = [c for c in INPUT_COLUMNS if c not in source.columns]
    if missing:
        raise SchemaError(f"exchanges lacks canonical columns: {', '.join(missing)}", hint="re-run ingest")
    # a day is recomputed when its data, the enrichment code's version or the indicator file changed
    code = f"enrich={ENRICH_VERSION};indicators={load_indicators()[0]}"
    current = {d: f"{fp}|{code}" for d, fp in days_until(partition_fingerprints(engine, "exchanges"), until).items()}
    if until is not None:
        cut = until.date().isoformat()
        if cut in current:
            current[cut] = f"{current[cut]}|until={until.isoformat()}"
    manifest = Manifest(settings.data_dir, f"enrich-{engine.name}")
    todo = sorted(current) if full or not engine.has_table(ENRICHED_TABLE) else manifest.changed(current)
    result = EnrichResult(days=todo)
    if not todo:
        result.seconds = time.perf_counter() - start
        return result
    check_text_sample_rate(settings.data_dir, settings.text_sample_rate, has_texts=engine.has_table(TEXTS_TABLE))
    expr = source.filter(source.day.cast("string").isin(todo))
    if until is not None:
        expr = expr.filter(expr.ts < ibis.literal(until, type="timestamp('UTC')"))
    expr = expr.select(*INPUT_COLUMNS)

    # Distinct new texts first: their analysis (most of the CPU) then runs on the worker
    # processes while this process enriches the exchanges, so both cores stay busy.
    occurrences = engine.map_batches(
        expr.select("system_text", "user_texts"), extract_texts, TEXT_OCCURRENCE_SCHEMA, parallel=False
    )
    distinct = occurrences.group_by("text_hash").aggregate(text=occurrences.text.max())
    if engine.has_table(TEXTS_TABLE):
        known = engine.table(TEXTS_TABLE).select("text_hash")
        distinct = distinct.anti_join(known, "text_hash")
    result.new_texts = int(engine.execute(distinct.count()).column(0)[0].as_py())
    pending = None
    if result.new_texts:
        warm()  # loaded once here, shared by the batch workers
        pending = engine.map_batches_background(
            distinct, text_batch_fn(settings.text_sample_rate), TEXTS_SCHEMA, batch_rows=TEXT_BATCH_ROWS
        )
    try:
        # ~10 us of work per wide row: cheaper in process than copying the rows to a worker and back
        rows = engine.map_batches(expr, exchange_batch_fn(settings.restricted_regions), ENRICHED_SCHEMA, parallel=False)
        engine.write_partitions(ENRICHED_TABLE, rows, partition_by=["day"])
        done = engine.table(ENRICHED_TABLE)
        enriched = done.filter(done.day.cast("string").isin(todo)).count()
        result.exchanges = int(engine.execute(enriched).column(0)[0].as_py())
        if pending is not None:
            new = pending.result()
            part = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
            engine.write_partitions(TEXTS_TABLE, new.mutate(part=ibis.literal(part)), partition_by=["part"])
    finally:
        if pending is not None:
            pending.close()
    manifest.save(current)
    result.seconds = time.perf_counter() - start
    return result
