"""Typed settings from defaults, a TOML file, environment variables and flags.

Precedence, lowest to highest: built-in defaults, ``stillwatch.toml`` (or the file named by
``--config`` / ``STILLWATCH_CONFIG``), ``STILLWATCH_*`` environment variables, explicit overrides
(CLI flags). Validation collects every problem and raises one :class:`ConfigError` listing all.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from stillwatch.exceptions import ConfigError

DEFAULT_RESTRICTED_REGIONS: tuple[str, ...] = ("CN", "HK", "MO", "RU", "IR", "KP", "CU", "SY")


class SparkSettings(BaseModel):
    """Settings of the PySpark engine."""

    master: str = "local[2]"
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(default=4, ge=1)
    local_ip: str = "127.0.0.1"
    extra_conf: dict[str, str] = Field(default_factory=dict)


class IngestSettings(BaseModel):
    """Settings of the ingest stage."""

    batch_rows: int = Field(default=50_000, ge=1, le=5_000_000)
    max_line_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    keep_raw_request: bool = True
    fast_path: bool = Field(default=True, description="map provider-logs-v1 JSON Lines with DuckDB SQL (lines it "
                            "cannot map exactly take the Python mapper, with identical results); false = the "
                            "Python mapper for every line")
    workers: int = Field(default=0, ge=0, le=64, description="0 = one per core")


class ServeSettings(BaseModel):
    """Settings of the HTTP server (API and console)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    secret_key: str | None = None
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the case store; default a SQLite file in the data dir"
    )


class Settings(BaseSettings):
    """All stillwatch settings.

    Attributes:
        data_dir: Where the store (Parquet partitions, DuckDB catalog, case store) lives.
        engine: ``duckdb`` (embedded, default) or ``spark``.
        restricted_regions: ISO 3166-1 alpha-2 codes the provider does not serve. The only place
            this list is defined; every stage reads it from here.
    """

    model_config = SettingsConfigDict(
        env_prefix="STILLWATCH_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path("./stillwatch-data")
    engine: Literal["duckdb", "spark"] = "duckdb"
    restricted_regions: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_RESTRICTED_REGIONS))
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = Field(default=0, ge=0, description="0 = DuckDB's default")
    map_workers: int = Field(
        default=0, ge=0, le=64,
        description="processes running the Python text analysis (and other batch functions marked parallel) "
        "on the DuckDB engine; 0 = one per core, 1 = in the calling process",
    )  # fmt: skip
    text_sample_rate: float = Field(
        default=1.0, gt=0.0, le=1.0,
        description="share of new distinct texts that get the expensive per-text features (language, template "
        "id, MinHash, benchmark and jailbreak look-alike), chosen by text hash; the rest get the cheap ones "
        "(scripts, cue and tag patterns) and the feature tables estimate those shares over the analysed texts. "
        "1.0 = every text. Fixed per store: enrich refuses a store analysed at another rate",
    )  # fmt: skip
    spark: SparkSettings = Field(default_factory=SparkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    @field_validator("restricted_regions", mode="before")
    @classmethod
    def _split_regions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("restricted_regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if len(v) != 2 or not v.isalpha()]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {', '.join(map(repr, bad))}")
        return [v.upper() for v in value]

    @property
    def catalog_path(self) -> Path:
        """The DuckDB catalog file inside the data directory."""
        return self.data_dir / "catalog.duckdb"

    @property
    def case_store_url(self) -> str:
        """SQLAlchemy URL of the case store (SQLite in the data dir unless configured)."""
        return self.serve.database_url or f"sqlite:///{(self.data_dir / 'cases.sqlite').resolve()}"


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        lines.append(f"{where}: {item['msg']}")
    return f"{len(lines)} problem(s) in settings from {source}: " + "; ".join(lines)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="fix the file or pass another --config") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    return dict(data.get("stillwatch", data))


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, a TOML file, the environment and explicit overrides.

    Args:
        config: A TOML file. Defaults to ``$STILLWATCH_CONFIG`` or ``./stillwatch.toml`` if present.
        **overrides: Values that win over everything else (e.g. CLI flags); ``None`` is ignored.

    Returns:
        Validated settings.

    Raises:
        ConfigError: Listing every invalid value at once.
    """
    path: Path | None = None
    if config is not None:
        path = Path(config)
        if not path.exists():
            raise ConfigError(f"settings file {path} does not exist", hint="check the --config path")
    elif os.environ.get("STILLWATCH_CONFIG"):
        path = Path(os.environ["STILLWATCH_CONFIG"])
    elif Path("stillwatch.toml").exists():
        path = Path("stillwatch.toml")
    file_values = _read_toml(path) if path else {}
    explicit = {k: v for k, v in overrides.items() if v is not None}
    source = str(path) if path else "environment and defaults"
    try:
        # Environment variables override the file; explicit overrides win over both.
        env_view = Settings()
        env_set = {k: getattr(env_view, k) for k in env_view.model_fields_set}
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, "STILLWATCH_* environment variables")) from exc
    except SettingsError as exc:
        raise ConfigError(f"cannot read STILLWATCH_* environment variables: {exc}") from exc
    merged = {**file_values, **env_set, **explicit}
    try:
        return Settings.model_validate(merged) if merged else Settings()
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from exc
