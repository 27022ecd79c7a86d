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
        threshold: Minimum match probability for a record edge (graph).
        weak_threshold: Pairs from here up are kept as weak links (ban evasion only: an enforced
            account's returning owner is far likelier than a random pair, so less evidence is needed).
        em_sample: ``record_sample_proportion`` for EM (1.0 on small data).
        u_max_pairs: Pairs sampled to estimate u-probabilities.
        seed: Seed of the u-sampling (results are repeatable).
        prior_recall: Assumed recall of the deterministic rules used for the prior.
    """

    threshold: float = 0.6
    weak_threshold: float = 0.2
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
        comparisons=list[Any](comparisons),
        blocking_rules_to_generate_predictions=list[Any](blocking),
        retain_intermediate_calculation_columns=True,
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


def _train(linker: Any, sdf: Any, params: RecordParams) -> Any:
    """Prior, u by random sampling, m by EM under several blocking rules; returns the trained linker.

    A failed EM session can leave splink's settings without the comparison it deactivated, so the
    model is snapshotted before each session and restored when one fails.
    """
    from splink import Linker, block_on

    try:
        linker.training.estimate_probability_two_random_records_match(
            [block_on("payment_fingerprint"), block_on("signup_ip")], recall=params.prior_recall
        )
    except Exception as exc:  # noqa: BLE001 - splink raises many types on degenerate data
        log.warning("link: prior estimate failed (%s); using splink's default prior", exc)
    linker.training.estimate_u_using_random_sampling(max_pairs=params.u_max_pairs, seed=params.seed)
    for col, rule in (
        ("payment_fingerprint", block_on("payment_fingerprint")),
        ("signup_prefix", block_on("signup_prefix")),
        ("org_key", block_on("substr(org_key, 1, 5)")),
    ):
        snapshot = linker.misc.save_model_to_json()
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, record_sample_proportion=params.em_sample, estimate_without_term_frequencies=True
            )
        except Exception as exc:  # noqa: BLE001 - too few pairs under a rule is normal on small data
            log.info("link: EM blocked on %s skipped (%s)", col, exc)
            linker = Linker(sdf, snapshot)
    model = clamp_model(linker.misc.save_model_to_json())
    return Linker(sdf, model)


#: Bounds on EM-learnt m-probabilities (domain priors). EM on data dominated by one big pool learns
#: "matches always share the free-mail domain and sign-up week", which would veto every evader who
#: changed them; a true match may differ on any one field, and agreeing on an identity artefact
#: is common among true matches.
M_FLOOR_ELSE = 0.1
M_FLOOR_AGREE = 0.3
#: Disagreeing on these is weak evidence against a match (operators change them on purpose).
M_FLOOR_ELSE_BY_FIELD = {"created_s": 0.5, "email_domain": 0.3, "signup_ip": 0.3}
#: Ceiling on u of agreeing on an identity artefact (small samples overestimate it).
U_CEIL_IDENTITY = 0.01
_IDENTITY = ("org_key", "payment_fingerprint", "signup_ip", "email_pattern")
_AGREE_LEVELS = ("Exact match on payment_fingerprint", "Exact match on signup_ip")


def clamp_model(model: dict[str, Any]) -> dict[str, Any]:
    """Bound m-probabilities of a splink model dict (see :data:`M_FLOOR_ELSE`); renormalise."""
    for comp in model.get("comparisons", []):
        name = comp.get("output_column_name", "")
        levels = [lv for lv in comp.get("comparison_levels", []) if not lv.get("is_null_level")]
        for lv in levels:
            m = lv.get("m_probability")
            label = str(lv.get("label_for_charts", ""))
            other = "other" in label.lower()
            if other:
                floor = M_FLOOR_ELSE_BY_FIELD.get(name, M_FLOOR_ELSE)
            else:
                floor = M_FLOOR_AGREE if label in _AGREE_LEVELS else 0.01
            lv["m_probability"] = max(float(m) if m is not None else floor, floor)
            if lv.get("u_probability") is None:
                lv["u_probability"] = 0.5 if other else 0.01
            if not other and name in _IDENTITY:
                lv["u_probability"] = min(float(lv["u_probability"]), U_CEIL_IDENTITY)
        total = sum(lv["m_probability"] for lv in levels) or 1.0
        for lv in levels:
            lv["m_probability"] = lv["m_probability"] / total
    return model


def _reasons(row: pd.Series) -> tuple[list[str], list[dict[str, Any]]]:
    reasons: list[str] = []
    evidence: list[dict[str, Any]] = []
    for col, name in FIELD_NAMES.items():
        g = row.get(f"gamma_{col}")
        if g is None or pd.isna(g) or int(g) <= 0:
            continue
        mw = row.get(f"mw_{col}")
        top = int(g) == row.get(f"_max_gamma_{col}", int(g))
        if col == "created_s" or (col == "signup_ip" and int(g) == 1):
            label = f"{name} close" if col == "created_s" else "sign-up IP same /24"
        else:
            label = f"same {name}" if top else f"similar {name}"
        if mw is None or pd.isna(mw) or float(mw) <= 0.0:
            continue
        weight = round(float(mw), 2)
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
        if col != "created_s":  # typed as text even when all null (DuckDB would guess INTEGER)
            df[col] = df[col].astype("object").where(df[col].notna(), None).astype("string[pyarrow]")
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(max(logging.ERROR, logging.getLogger(name).level))
    try:
        from splink import Linker

        db_api = _db_api(spark)
        frame = spark.createDataFrame(df) if spark is not None else df
        sdf = db_api.register(frame, dataset_display_name="accounts")
        linker = _train(Linker(sdf, _settings(df)), sdf, params)
        pred = linker.inference.predict(threshold_match_probability=min(params.threshold, params.weak_threshold))
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
