"""Per-distinct-text batch functions: extract texts from exchanges, enrich each once.

The ``texts`` table is keyed by ``text_hash`` (blake2b-64 of the UTF-8 text) and only grows:
a text already enriched is never analysed again, so repeated templates cost nothing.

Depth: every text gets the cheap features (length, scripts, cue/tag/artifact patterns). The
expensive ones — language, template id, MinHash, benchmark and jailbreak look-alike — go to
the texts :func:`deep_sampled` keeps: all of them at the default ``text_sample_rate`` 1.0, else a
deterministic hash sample (the same text is in or out on every engine and every run). Sampled
out texts have ``depth = 'light'`` and those columns null; the feature tables then estimate the
shares that need them over the deep rows (``stillwatch.features.activity``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stillwatch.engine import BatchFn
from stillwatch.enrich import text as textmod
from stillwatch.enrich.benchmarks import benchmark_index, jailbreak_index
from stillwatch.enrich.client import moved_system_prefixes, moved_system_turn
from stillwatch.enrich.listcols import Turns, as_strings
from stillwatch.enrich.templates import band0_key, signature, signatures, template_id, text_hash

#: Bump when any per-text feature changes meaning (stored in every texts row).
TEXT_FEATURES_VERSION = "1"
#: ``depth`` values: every feature computed / only the cheap ones (sampled out).
DEPTH_FULL, DEPTH_LIGHT = "full", "light"
#: Columns a light row leaves null.
DEEP_COLUMNS = (
    "lang", "lang_prob", "template_id", "lsh_band0", "minhash", "bench_name", "bench_item", "bench_sim",
    "jb_source", "jb_item", "jb_sim",
)  # fmt: skip

TEXT_OCCURRENCE_SCHEMA = pa.schema([pa.field("text_hash", pa.string()), pa.field("text", pa.string())])

_CAP_FIELDS = [pa.field(f"cap_{c}", pa.bool_()) for c in textmod.CAPABILITIES]
TEXTS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("text_hash", pa.string()),
        pa.field("n_chars", pa.int64()),
        pa.field("is_empty", pa.bool_()),
        pa.field("is_binary", pa.bool_()),
        pa.field("script", pa.string()),
        pa.field("han_share", pa.float64()),
        pa.field("latin_share", pa.float64()),
        pa.field("lang", pa.string()),
        pa.field("lang_prob", pa.float64()),
        pa.field("cot_cues", pa.string()),
        pa.field("has_cot_cue", pa.bool_()),
        *_CAP_FIELDS,
        pa.field("zero_width", pa.bool_()),
        pa.field("cn_mainland_artifact", pa.bool_()),
        pa.field("template_id", pa.string()),
        pa.field("lsh_band0", pa.string()),
        pa.field("minhash", pa.binary()),
        pa.field("bench_name", pa.string()),
        pa.field("bench_item", pa.string()),
        pa.field("bench_sim", pa.float64()),
        pa.field("jb_source", pa.string()),
        pa.field("jb_item", pa.string()),
        pa.field("jb_sim", pa.float64()),
        pa.field("features_version", pa.string()),
        pa.field("depth", pa.string()),
    ]
)


def extract_texts(batch: pa.RecordBatch) -> pa.RecordBatch:
    """One row per text slot of each exchange: the system prompt, first and last user turn.

    When a relay moved the system prompt into the first user turn, the turn after it (the
    conversation's opening, keyed by ``first_user_hash``) is a slot too.

    Column-wise (Arrow kernels; each distinct text hashed once per batch). The same rows, in
    another order, as :func:`extract_texts_rowwise`.
    """
    turns = Turns.of(batch.column("user_texts"), moved_system_prefixes())
    parts = [as_strings(batch.column("system_text")), turns.first, turns.last]
    if turns.moved.any():
        parts.append(turns.opening.filter(pa.array(turns.moved)))
    slots = pa.concat_arrays(parts)
    enc = pc.dictionary_encode(slots)
    hashes = pa.array([text_hash(v) for v in enc.dictionary.to_pylist()], pa.string()).take(enc.indices)
    keep = hashes.is_valid()  # null and empty texts have no hash
    return pa.RecordBatch.from_arrays([hashes.filter(keep), slots.filter(keep)], schema=TEXT_OCCURRENCE_SCHEMA)


def extract_texts_rowwise(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Reference semantics of :func:`extract_texts`, row by row."""
    hashes: list[str] = []
    texts: list[str] = []
    systems = batch.column("system_text").to_pylist()
    users = batch.column("user_texts").to_pylist()
    for sys_text, turns in zip(systems, users, strict=True):
        turns = [t for t in (turns or []) if isinstance(t, str)]
        moved = moved_system_turn(turns)
        conversation = turns[1:] if moved else turns
        slots = [sys_text, turns[0] if turns else None, conversation[-1] if len(conversation) > 1 else None]
        if moved:
            slots.append(conversation[0])
        for t in slots:
            h = text_hash(t) if isinstance(t, str) else None
            if h is not None and isinstance(t, str):
                hashes.append(h)
                texts.append(t)
    return pa.RecordBatch.from_arrays(
        [pa.array(hashes, pa.string()), pa.array(texts, pa.string())], schema=TEXT_OCCURRENCE_SCHEMA
    )


def analyse_text(text: str | None) -> dict[str, Any]:
    """Every per-text feature of one text, including template and index matches (never raises)."""
    return analyse_texts([text])[0]


def deep_sampled(text_hash: str | None, rate: float) -> bool:
    """Whether a text gets the expensive features at ``text_sample_rate`` ``rate``.

    A deterministic sample: the first 32 bits of the (uniform) blake2b text hash, read as a
    fraction of 2**32, below ``rate``. Every text at rate 1.0.
    """
    if rate >= 1.0:
        return True
    if not text_hash:
        return False
    try:
        return int(text_hash[:8], 16) < rate * 2**32
    except ValueError:
        return True  # not a stillwatch hash: analyse it rather than lose it


def analyse_texts(texts: list[str | None], deep: list[bool] | None = None) -> list[dict[str, Any]]:
    """:func:`analyse_text` of many texts: scripts profiled and the benchmark and jailbreak
    indexes queried once per batch (same values as one text at a time; never raises).

    Args:
        texts: The texts.
        deep: Per text, whether to compute the expensive features (default: every text); the
            others get ``depth = 'light'`` and :data:`DEEP_COLUMNS` null.
    """
    deep = [True] * len(texts) if deep is None else deep
    rows = textmod.analyse_batch(texts, with_language=deep)
    for row, d in zip(rows, deep, strict=True):
        row["depth"] = DEPTH_FULL if d else DEPTH_LIGHT
    wanted = [
        i for i, (row, text) in enumerate(zip(rows, texts, strict=True)) if text and deep[i] and not _skipped(row)
    ]
    try:
        computed = signatures([texts[i] for i in wanted])
    except Exception:  # noqa: BLE001 - defensive: text by text below
        computed = [_signature_one(texts[i]) for i in wanted]
    sigs: list[Any] = [None] * len(texts)
    for row in rows:
        row["template_id"] = None
        row["lsh_band0"] = None
        row["minhash"] = None
        for k in ("bench_name", "bench_item", "bench_sim", "jb_source", "jb_item", "jb_sim"):
            row[k] = None
    for i, sig in zip(wanted, computed, strict=True):
        row, text = rows[i], texts[i]
        try:
            row["template_id"] = template_id(text)
            row["lsh_band0"] = band0_key(sig)
            row["minhash"] = sig.tobytes() if sig is not None else None
            sigs[i] = sig
        except Exception:  # noqa: BLE001 - one bad text never stops the run
            continue
    for index, prefix in ((benchmark_index(), "bench"), (jailbreak_index(), "jb")):
        try:
            matches = index.query_batch(sigs)
        except Exception:  # noqa: BLE001 - defensive: text by text
            matches = [_query_one(index, s) for s in sigs]
        source_key = "bench_name" if prefix == "bench" else "jb_source"
        for row, m in zip(rows, matches, strict=True):
            if m:
                row[source_key], row[f"{prefix}_item"], row[f"{prefix}_sim"] = m.source, m.item_id, m.similarity
    for row, d in zip(rows, deep, strict=True):
        if not d:  # empty and binary texts too: a light row is null in every expensive column
            row.update(dict.fromkeys(DEEP_COLUMNS))
    return rows


def _skipped(row: dict[str, Any]) -> bool:
    return bool(row["is_empty"] or row["is_binary"])


def _signature_one(text: str | None) -> Any:
    try:
        return signature(text)
    except Exception:  # noqa: BLE001 - one bad text never stops the run
        return None


def _query_one(index: Any, sig: Any) -> Any:
    try:
        return index.query(sig)
    except Exception:  # noqa: BLE001 - one bad text never stops the run
        return None


def warm() -> None:
    """Load the text models and indexes now (before worker processes fork, which then share them)."""
    analyse_texts(["warm-up: solve 2+2 step by step", "预热：请逐步推理"])


def text_batch_fn(sample_rate: float = 1.0) -> BatchFn:
    """The per-distinct-text batch function: (text_hash, text) in, :data:`TEXTS_SCHEMA` out.

    Args:
        sample_rate: Share of texts that get the expensive features (:func:`deep_sampled`).
    """

    def fn(batch: pa.RecordBatch) -> pa.RecordBatch:
        hashes = batch.column("text_hash").to_pylist()
        texts = batch.column("text").to_pylist()
        cols: dict[str, list[Any]] = {f.name: [] for f in TEXTS_SCHEMA}
        deep = [deep_sampled(h, sample_rate) for h in hashes]
        for h, row in zip(hashes, analyse_texts(texts, deep), strict=True):
            row["text_hash"] = h
            row["features_version"] = TEXT_FEATURES_VERSION
            for name in cols:
                cols[name].append(row.get(name))
        arrays = [pa.array(cols[f.name], type=f.type) for f in TEXTS_SCHEMA]
        return pa.RecordBatch.from_arrays(arrays, schema=TEXTS_SCHEMA)

    return fn
