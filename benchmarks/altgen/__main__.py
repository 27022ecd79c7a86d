"""Command line: write accounts, enforcement, exchanges and labels of one independent set."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import abuse  # noqa: E402
import abuse2  # noqa: E402
import benign  # noqa: E402
from text import Texts  # noqa: E402
from world import World  # noqa: E402


def generate(out: Path, seed: int = 41, days: int = 10, scale: float = 1.0, data: Path | None = None) -> dict[str, int]:
    """Generate one set into ``out``; ``scale`` shrinks every population's volume and size."""
    texts = Texts(data)
    w = World(seed, date(2026, 3, 30), days, texts, scale)
    benign.individuals(w, max(3, int(430 * scale)), zh=False)
    benign.individuals(w, max(2, int(150 * scale)), zh=True)
    benign.apps(w, max(2, int(90 * scale)), zh=False)
    benign.apps(w, max(1, int(30 * scale)), zh=True)
    benign.gateways(w)
    benign.researchers(w)
    abuse.relays(w)
    abuse2.subrouting(w)
    abuse2.subsidiaries(w)
    abuse2.hydra(w, max(8, int(60 * scale)))
    abuse2.ban_evasion(w)
    abuse2.jailbreakers(w)
    return w.write(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--data", type=Path, default=None, help="corpora folder (default: ../shared/data beside the repo)")
    a = ap.parse_args()
    t0 = time.time()
    counts = generate(a.out, a.seed, a.days, a.scale, a.data)
    print(json.dumps({**counts, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
