"""An independent provider-logs-v1 traffic generator (session 7), written without stillwatch.simulate.

Run: ``python benchmarks/altgen --out DIR --seed 41`` (see docs/evaluation.md, "Session 7").
"""
