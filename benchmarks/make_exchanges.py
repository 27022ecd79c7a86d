"""Write N varied provider-logs-v1 exchanges (JSONL.gz) for ingest benchmarks.

Uses the simulator when it is installed (``--sim``); otherwise varies the realistic sample records
from the ingest tests (ids, times, IPs, texts, models), which is enough to exercise parsing.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import random
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ingest.samples import ANTHROPIC, OPENAI  # noqa: E402

WORDS = ("quick sort explain python rust tokio async await database index join window function "
         "请 帮 我 写 一个 函数 解释 代码 为什么 怎么 优化 性能").split()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with gzip.open(args.out, "wb", compresslevel=1) as fh:
        for i in range(args.rows):
            rec = copy.deepcopy(ANTHROPIC if i % 3 else OPENAI)
            rec["request_id"] = f"req_{args.seed}_{i:09d}"
            day = 1 + (i * 28 // args.rows)
            rec["ts"] = f"2026-02-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
            rec["account_id"] = f"acct_{rng.randrange(5000)}"
            rec["api_key_id"] = f"key_{rng.randrange(8000)}"
            rec["client_ip"] = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 300)))
            rec["request"]["messages"][-1] = {"role": "user", "content": text}
            rec["response"]["text"] = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 400)))
            fh.write(orjson.dumps(rec) + b"\n")


if __name__ == "__main__":
    main()
