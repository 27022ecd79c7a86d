"""The engine boundary: the only package that knows DuckDB or Spark.

Everything above it builds Ibis expressions and calls :meth:`Engine.execute`,
:meth:`Engine.write_table` or :meth:`Engine.map_batches`.
"""

from stillwatch.engine.base import BatchFn, Engine, get_engine

__all__ = ["BatchFn", "Engine", "get_engine"]
