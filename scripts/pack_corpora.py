"""Pack the permissively licensed corpora into src/stillwatch/simulate/corpora/.

Reads the data folder (default ../shared/data) with the simulator's own reader, skips every
non-commercial or unlicensed source (see ``stillwatch.simulate.corpora.LICENCES``), drops very
long items, subsamples the largest pools deterministically, and writes ``pools.json.gz`` plus a
``MANIFEST.json`` that records what was packed, from where, under which licence.

Usage: .venv/bin/python scripts/pack_corpora.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path

from stillwatch.simulate.corpora import LICENCES, PACKED_DIR, build_pools, sample_pools

#: Maximum items per pool in the packed copy (pools not listed are kept whole).
CAPS: dict[str, int] = {
    "bench_mmlu": 2500,
    "bench_agieval": 1500,
    "en_chat_math": 800,
    "jb_templates": 350,
    "jb_verbatim": 350,
    "personas_en": 600,
    "en_replies": 1200,
    "jb_payloads_en": 1500,
    "jb_payloads_zh": 1500,
    "distill_seeds_zh": 1000,
    "bench_safetybench_zh": 1500,
    "bench_arena": 500,
    "en_chat": 1400,
}
MAX_CHARS = 6000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=PACKED_DIR)
    args = parser.parse_args()
    pools, used = build_pools(args.data, include_nc=False)
    trimmed = {
        name: [(p, r if r is None or len(r) <= MAX_CHARS else r[:MAX_CHARS]) for p, r in items if len(p) <= MAX_CHARS]
        for name, items in pools.items()
    }
    packed = sample_pools(trimmed, CAPS, seed=0)
    payload = json.dumps({"version": 1, "pools": packed}, ensure_ascii=False, sort_keys=True).encode()
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "pools.json.gz"
    with open(target, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    manifest = {
        "file": target.name,
        "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
        "bytes": target.stat().st_size,
        "packed_from": str(args.data),
        "max_chars_per_item": MAX_CHARS,
        "caps": CAPS,
        "sources": [
            {"name": name, "licence": LICENCES[name][0], "source_md": f"{name}/SOURCE.md"} for name in sorted(used)
        ],
        "excluded_non_commercial_or_unlicensed": sorted(n for n, (_, nc) in LICENCES.items() if nc)
        + ["agieval: logiqa-en, logiqa-zh (CC BY-NC-SA)"],
        "pools": {name: len(items) for name, items in sorted(packed.items())},
    }
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) from {len(used)} sources")


if __name__ == "__main__":
    main()
