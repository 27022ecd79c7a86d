"""Record linkage of account records with Splink (Fellegi–Sunter, EM-trained, no labels).

Compared fields: organisation name (Jaro–Winkler on the folded name), e-mail domain (exact, with
term-frequency adjustment so ``gmail.com`` weighs nearly nothing), e-mail local-part pattern,
payment fingerprint, sign-up IP (exact, else same /24), phone country, declared-vs-billing
mismatch pattern and sign-up time proximity. Every predicted pair keeps its match weight and the
fields that agreed, which become the edge's evidence.

DuckDB is the default backend; pass a Spark session to run on Spark (the session needs
``spark.jars=splink.backends.spark.similarity_jar_location()``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stillwatch.exceptions import EngineError

log = logging.getLogger(__name__)

#: Columns handed to Splink.
SPLINK_COLUMNS: tuple[str, ...] = (
    "unique_id", "org_key", "email_domain", "email_pattern", "payment_fingerprint", "signup_ip",
    "signup_prefix", "phone_country", "geo_mismatch", "created_s",
)  # fmt: skip

#: Output comparison column -> human name used in evidence.
FIELD_NAMES: dict[str, str] = {
    "org_key": "organisation name", "email_domain": "e-mail domain", "email_pattern": "e-mail local-part pattern",
    "payment_fingerprint": "payment fingerprint", "signup_ip": "sign-up IP", "phone_country": "phone country",
    "geo_mismatch": "declared vs billing country", "created_s": "sign-up time",
}  # fmt: skip


@dataclass(frozen=True)
class RecordParams:
    """Parameters of record linkage.

    Attributes:
        threshold: Minimum match probability for a record edge.
        em_sample: ``record_sample_proportion`` for EM (1.0 on small data).
        u_max_pairs: Pairs sampled to estimate u-probabilities.
        seed: Seed of the u-sampling (results are repeatable).
        prior_recall: Assumed recall of the deterministic rules used for the prior.
    """

    threshold: float = 0.95
    em_sample: float = 1.0
    u_max_pairs: float = 1e6
    seed: int = 1
    prior_recall: float = 0.6


def _settings(df: pd.DataFrame) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [
        cl.JaroWinklerAtThresholds("org_key", [0.97, 0.9]),
        cl.ExactMatch("email_domain").configure(term_frequency_adjustments=True),
        cl.ExactMatch("payment_fingerprint"),
        cl.CustomComparison(
            output_column_name="signup_ip",
            comparison_levels=[
                cll.NullLevel("signup_prefix"),
                cll.ExactMatchLevel("signup_ip"),
                cll.ExactMatchLevel("signup_prefix"),
                cll.ElseLevel(),
            ],
        ),
        cl.ExactMatch("phone_country").configure(term_frequency_adjustments=True),
        cl.ExactMatch("geo_mismatch").configure(term_frequency_adjustments=True),
        cl.CustomComparison(
            output_column_name="created_s",
            comparison_levels=[
                cll.NullLevel("created_s"),
                cll.CustomLevel('abs("created_s_l" - "created_s_r") <= 3600', label_for_charts="within 1 hour"),
                cll.CustomLevel('abs("created_s_l" - "created_s_r") <= 86400', label_for_charts="within 1 day"),
                cll.CustomLevel('abs("created_s_l" - "created_s_r") <= 604800', label_for_charts="within 7 days"),
                cll.ElseLevel(),
            ],
        ),
    ]
    if df["email_pattern"].notna().any():
        comparisons.insert(2, cl.ExactMatch("email_pattern").configure(term_frequency_adjustments=True))
    blocking = [
        block_on("payment_fingerprint"),
        block_on("signup_prefix"),
        block_on("substr(org_key, 1, 5)"),
        block_on("email_domain", "email_pattern"),
    ]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
        max_iterations=20,
        em_convergence=0.001,
    )


def _db_api(spark: Any | None) -> Any:
    if spark is None:
        from splink import DuckDBAPI

        return DuckDBAPI()
    from splink import SparkAPI

    return SparkAPI(spark_session=spark)


def _train(linker: Any, params: RecordParams) -> None:
    from splink import block_on

    training = linker.training
    try:
        training.estimate_probability_two_random_records_match(
            [block_on("payment_fingerprint"), block_on("signup_ip")], recall=params.prior_recall
        )
    except Exception as exc:  # noqa: BLE001 - splink raises many types on degenerate data
        log.warning("link: prior estimate failed (%s); using splink's default prior", exc)
    training.estimate_u_using_random_sampling(max_pairs=params.u_max_pairs, seed=params.seed)
    for rule in (block_on("payment_fingerprint"), block_on("signup_prefix"), block_on("substr(org_key, 1, 5)")):
        try:
            training.estimate_parameters_using_expectation_maximisation(
                rule, record_sample_proportion=params.em_sample, estimate_without_term_frequencies=True
            )
        except Exception as exc:  # noqa: BLE001 - too few pairs under a rule is normal on small data
            log.warning("link: EM under %s skipped: %s", rule, exc)


def _reasons(row: pd.Series) -> tuple[list[str], list[dict[str, Any]]]:
    reasons: list[str] = []
    evidence: list[dict[str, Any]] = []
    for col, name in FIELD_NAMES.items():
        g = row.get(f"gamma_{col}")
        if g is None or pd.isna(g) or int(g) <= 0:
            continue
        bf = row.get(f"bf_{col}")
        top = int(g) == row.get(f"_max_gamma_{col}", int(g))
        if col == "created_s" or (col == "signup_ip" and int(g) == 1):
            label = f"{name} close" if col == "created_s" else "sign-up IP same /24"
        else:
            label = f"same {name}" if top else f"similar {name}"
        if bf is not None and not pd.isna(bf) and float(bf) <= 1.0:
            continue
        weight = float(np.log2(float(bf))) if bf is not None and not pd.isna(bf) else None
        reasons.append(label)
        evidence.append({"feature": f"record.{col}", "value": label, "match_weight": weight})
    return reasons, evidence


def record_links(
    accounts: pd.DataFrame, params: RecordParams | None = None, *, spark: Any | None = None
) -> pd.DataFrame:
    """Link account records pairwise with an EM-trained Splink model.

    Args:
        accounts: Output of :func:`stillwatch.link.normalize.clean_accounts`.
        params: Thresholds and training options.
        spark: A SparkSession to use the Spark backend; ``None`` for DuckDB.

    Returns:
        One row per linked pair: ``a``, ``b`` (a < b), ``weight`` (match probability),
        ``match_weight`` (log2 Bayes factor), ``reasons`` (list of agreeing fields) and
        ``evidence`` (list of dicts with per-field weights).

    Raises:
        EngineError: Splink failed on the chosen backend.
    """
    params = params or RecordParams()
    empty = pd.DataFrame(columns=["a", "b", "weight", "match_weight", "reasons", "evidence"])
    if len(accounts) < 2:
        return empty
    df = accounts.rename(columns={"account_id": "unique_id"})[list(SPLINK_COLUMNS)].copy()
    df["created_s"] = pd.to_numeric(df["created_s"], errors="coerce").astype("float64")
    for col in SPLINK_COLUMNS:
        if col not in ("created_s",):
            df[col] = df[col].astype("object").where(df[col].notna(), None)
    try:
        from splink import Linker

        db_api = _db_api(spark)
        frame = spark.createDataFrame(df) if spark is not None else df
        sdf = db_api.register(frame, source_dataset_name="accounts")
        linker = Linker(sdf, _settings(df))
        _train(linker, params)
        pred = linker.inference.predict(threshold_match_probability=params.threshold)
        out = pred.as_pandas_dataframe()
    except Exception as exc:
        raise EngineError(f"splink record linkage failed: {exc}", hint="check the accounts table") from exc
    if out.empty:
        return empty
    for col in FIELD_NAMES:
        gcol = f"gamma_{col}"
        if gcol in out:
            out[f"_max_gamma_{col}"] = int(pd.to_numeric(out[gcol]).max())
    rows = []
    for _, row in out.iterrows():
        a, b = sorted((str(row["unique_id_l"]), str(row["unique_id_r"])))
        reasons, evidence = _reasons(row)
        if not reasons:
            continue
        rows.append(
            {
                "a": a,
                "b": b,
                "weight": float(row["match_probability"]),
                "match_weight": float(row["match_weight"]),
                "reasons": reasons,
                "evidence": evidence,
            }
        )
    if not rows:
        return empty
    return pd.DataFrame(rows).drop_duplicates(["a", "b"]).reset_index(drop=True)
