"""Rendered rows from actors, in time order, in this process or in forked worker processes.

A row is ``(ts, actor idx, seq, json bytes without request_id, group, exchange label or None)``.
Each actor renders with its own random stream, so the bytes do not depend on how actors are
split over processes: ``workers=1`` and ``workers=2`` give identical files.
"""

from __future__ import annotations

import heapq
import multiprocessing as mp
import random
from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson

from stillwatch.exceptions import EngineError
from stillwatch.simulate.exchange import render
from stillwatch.simulate.populations.base import Actor

Row = tuple[int, int, int, bytes, str, tuple[Any, ...] | None]
_BATCH = 2000


def actor_rows(actor: Actor, days: list[date]) -> Iterator[Row]:
    """Render one actor's exchanges in time order."""
    rng = random.Random(f"{actor.ctx.seed}:render:{actor.name}")
    group_of = {a.account_id: a.group for a in actor.accounts}
    dumps = orjson.dumps
    for ts, idx, seq, req in actor.stream(days):
        row = render(req, rng, None)
        label = None
        if req.exchange_label is not None:
            label = (*req.exchange_label, row["ts"], req.account_id)
        yield (ts, idx, seq, dumps(row), group_of.get(req.account_id, "?"), label)


def actor_results(actor: Actor) -> dict[str, Any]:
    """What an actor knows once its stream is exhausted (labels depend on realised traffic)."""
    return {
        "idx": actor.idx,
        "accounts": [(a.created_ms, a.account_id, a.label, a.record(), a.labels()) for a in actor.accounts],
        "extra": actor.extra_labels(),
        "enforcement": actor.enforcement(),
        "reports": actor.reports(),
    }


def _worker(actors: list[Actor], days: list[date], queue: Any) -> None:
    try:
        batch: list[Row] = []
        for row in heapq.merge(*(actor_rows(a, days) for a in actors)):
            batch.append(row)
            if len(batch) >= _BATCH:
                queue.put(("rows", batch))
                batch = []
        if batch:
            queue.put(("rows", batch))
        queue.put(("done", [actor_results(a) for a in actors]))
    except BaseException as exc:  # reported to the parent, which raises
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


class RowSource:
    """All rows of a simulation, merged in time order, plus the actors' final results.

    Args:
        actors: Every actor, already built.
        days: The window's days.
        workers: Processes that render (1: render in this process).
    """

    def __init__(self, actors: list[Actor], days: list[date], workers: int = 1) -> None:
        self.actors = actors
        self.days = days
        self.workers = max(1, min(workers, len(actors)))
        self.results: list[dict[str, Any]] = []
        self._procs: list[Any] = []
        self._queues: list[Any] = []

    def start(self) -> None:
        """Fork the workers (call before starting any thread in this process)."""
        if self.workers == 1 or self._queues:
            return
        ctx = mp.get_context("fork")
        self._queues = [ctx.Queue(maxsize=6) for _ in range(self.workers)]
        for w, q in enumerate(self._queues):
            part = [a for a in self.actors if a.idx % self.workers == w]
            proc = ctx.Process(target=_worker, args=(part, self.days, q), daemon=True)
            proc.start()
            self._procs.append(proc)

    def __iter__(self) -> Iterator[Row]:
        if self.workers == 1:
            yield from heapq.merge(*(actor_rows(a, self.days) for a in self.actors))
            self.results = [actor_results(a) for a in self.actors]
            return
        self.start()
        queues = self._queues
        finals: list[list[dict[str, Any]]] = [[] for _ in queues]
        try:
            yield from heapq.merge(*(self._drain(q, finals, w) for w, q in enumerate(queues)))
        finally:
            self.close()
        self.results = sorted((r for part in finals for r in part), key=lambda r: r["idx"])

    @staticmethod
    def _drain(queue: Any, finals: list[list[dict[str, Any]]], w: int) -> Iterator[Row]:
        while True:
            kind, payload = queue.get()
            if kind == "rows":
                yield from payload
            elif kind == "done":
                finals[w] = payload
                return
            else:
                raise EngineError(f"simulation worker failed: {payload}")

    def close(self) -> None:
        """Stop worker processes (after an error or at the end)."""
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._procs.clear()
