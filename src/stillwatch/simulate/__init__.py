"""Traffic simulator with ground truth: ``stillwatch simulate``.

The public API is :func:`simulate`, which writes provider-logs-v1 files (``exchanges.jsonl.gz``,
``accounts.jsonl``, ``enforcement.jsonl``, ``reports.jsonl``) plus ``labels.jsonl`` and returns a
:class:`SimulationSummary`. The same seed and version always give byte-identical files.
"""

from stillwatch.simulate.engine import POPULATIONS, SCALES, SimulationSummary, simulate

__all__ = ["POPULATIONS", "SCALES", "SimulationSummary", "simulate"]
