"""Distillation detector: scripted collection of model outputs as training data.

Per account, signals from research/anchors-detection.md (ranked list items 1, 4, 8):

* **extraction shape** — template concentration (one masked template dominates), chain-of-thought
  elicitation, benchmark coverage, capability concentration (agentic coding, tool use, grading),
  pinned ``max_tokens``, no follow-up turns;
* **coordination** — the same templates used heavily by many other accounts (cross-account reuse)
  and egress shared with other accounts (proxy pools);
* **release reaction** — a large share of traffic moved to a model first seen in the window.

An account needs extraction-shape evidence *and* coordination evidence: a single researcher
running benchmarks (extraction-like shape, no coordination) is not a finding. Cluster findings sum
the same signals over the members of a linked cluster (``stillwatch.link``), so a hydra whose
accounts each look unremarkable still crosses the threshold. Summed rows (pools, linked clusters)
are also compared with accounts not tied to other accounts (``_fit``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import ibis
import numpy as np
import pandas as pd

from stillwatch.detect.base import Detector, robust_centre_scale, squash
from stillwatch.detect.evidence import Evidence, baseline_text, reference_accounts

SHAPE = ("top_template_share", "cot_share", "bench_share", "cap_max_share", "max_tokens_pinned_share",
         "no_followup_share", "new_model_share")  # fmt: skip
COORD = ("xacct_template_share", "shared_egress_accounts")
_WHY = {
    "top_template_share": "one prompt template dominates the traffic (scripted generation)",
    "cot_share": "prompts ask the model to show its step-by-step reasoning",
    "bench_share": "prompts near-match public benchmark items",
    "cap_max_share": "traffic concentrated on one capability (agentic coding, tool use or grading)",
    "max_tokens_pinned_share": "max_tokens pinned to one value",
    "no_followup_share": "single-shot requests, no follow-up turns",
    "new_model_share": "moved its traffic to a newly launched model right after launch",
    "xacct_template_share": "its templates are used heavily by many other accounts (coordinated campaign)",
    "shared_egress_accounts": "its egress addresses also carry other accounts (proxy pool)",
}
_FAMILY = {**dict.fromkeys(SHAPE, "extraction"), "new_model_share": "timing", "xacct_template_share": "extraction",
           "shared_egress_accounts": "network"}  # fmt: skip
#: Shares that need the sampled text features: with ``text_sample_rate`` < 1 they are estimates over
#: the ``n_deep`` of ``n_exchanges`` exchanges analysed in full (features ``deep_share``).
SAMPLED = ("top_template_share", "bench_share", "xacct_template_share")
#: One-sided z of the lower confidence bound a sampled share is judged on (95 %).
SAMPLE_Z = 1.645


def sampled_lower_bound(p: np.ndarray, n_deep: np.ndarray, n: np.ndarray, z: float = SAMPLE_Z) -> np.ndarray:
    """Wilson lower bound of shares estimated on ``n_deep`` of ``n`` exchanges (drawn without
    replacement: the effective sample grows to infinity as ``n_deep`` reaches ``n``).

    Rows analysed in full (``n_deep >= n``) or without a count (``n_deep <= 0``) keep ``p``.
    """
    p = np.clip(p, 0.0, 1.0)
    sampled = (n_deep > 0) & (n_deep < n)
    d = np.where(sampled, n_deep, 1.0)
    eff = d * np.maximum(n - 1.0, 1.0) / np.maximum(n - d, 1.0)  # finite-population correction
    z2 = z * z
    centre = p + z2 / (2 * eff)
    half = z * np.sqrt(p * (1 - p) / eff + z2 / (4 * eff * eff))
    return np.where(sampled, np.clip((centre - half) / (1 + z2 / eff), 0.0, 1.0), p)


def _col(X: pd.DataFrame, name: str) -> np.ndarray:  # noqa: N803
    if name not in X.columns:
        return np.zeros(len(X))
    return pd.to_numeric(X[name], errors="coerce").fillna(0.0).to_numpy(dtype=float)


def add_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """``cap_max_share`` (largest capability share) and ``no_followup_share``."""
    frame = frame.copy()
    caps = [c for c in frame.columns if c.startswith("cap_") and c.endswith("_share")]
    frame["cap_max_share"] = frame[caps].fillna(0).max(axis=1) if caps else 0.0
    frame["cap_max_name"] = frame[caps].fillna(0).idxmax(axis=1).str.slice(4, -6) if caps else ""
    frame["no_followup_share"] = 1.0 - frame["followup_share"].fillna(0.0) if "followup_share" in frame else 0.0
    return frame


class DistillationDetector(Detector):
    """Account-level distillation detector (extraction shape AND coordination).

    Args:
        shape_z: Robust z a shape feature must exceed to count.
        coord_z: Robust z cross-account template reuse must exceed to count as coordination.
        min_exchanges: Accounts with fewer exchanges are not scored.
        midpoint: Combined strength at which the score is 0.5.
        min_second: Strength the second-strongest extraction sign needs when requests are
            multi-turn (agentic trace collection); pooled rows average their members' shares and
            may use a lower value.
        max_pool_k: Cap on the effective number of accounts behind a pooled row (column
            ``pool_k_eff``): a share averaged over ``k`` accounts spreads about ``sqrt(k)`` times
            less than one account's share, so its robust z uses the accounts' scale divided by
            ``sqrt(min(k, max_pool_k))``. Rows without the column are single accounts (``k = 1``).
    """

    name = "distillation_shape_coord"
    version = "1"
    kind = "distillation"
    entity = "account"
    status = "test"
    required_columns: ClassVar[tuple[str, ...]] = ("n_exchanges",)

    def __init__(
        self,
        shape_z: float = 2.0,
        coord_z: float = 3.0,
        min_exchanges: int = 30,
        midpoint: float = 4.0,
        min_second: float = 1.0,
        max_pool_k: float = 4.0,
    ) -> None:
        self.shape_z = shape_z
        self.max_pool_k = max_pool_k
        self.min_second = min_second
        self.coord_z = coord_z
        self.min_exchanges = min_exchanges
        self.midpoint = midpoint

    def reference(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: N803
        """The accounts the baselines are fitted on: ``(untied busy accounts, all busy accounts)``.

        Busy accounts have at least ``min_exchanges`` exchanges (all accounts when fewer than 10
        have that many). *Untied* ones are not tied to other accounts (column ``pool_member``:
        shared egress, hopping or retried conversations; :mod:`stillwatch.detect.pools`); fewer
        than 10 fall back to all busy accounts.
        """
        busy = X[_col(X, "n_exchanges") >= self.min_exchanges]
        busy = busy if len(busy) >= 10 else X
        if "pool_member" not in busy.columns:
            return busy, busy
        untied = busy[~busy["pool_member"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
        return (untied if len(untied) >= 10 else busy), busy

    def _fit(self, X: pd.DataFrame) -> None:  # noqa: N803
        """Baselines of every feature on all busy accounts, and of the shape features on the untied
        busy accounts (a second reference for summed rows scored through :meth:`score`: pools and
        linked clusters; the returning-operator gate of :mod:`stillwatch.detect.operators` reads
        :meth:`_parts`, i.e. the busy reference only).

        A summed row is a set of accounts already tied by infrastructure, so its question is only
        whether their traffic looks like extraction next to ordinary independent accounts — and
        the null must not be fitted on the accounts under test. A campaign starts at volume, so
        on its first day the busy accounts are largely its own and the relays' (autumn seed 13,
        day 1: 31 of the 49 accounts with >= 30 exchanges were pooled) and their shares widened
        the baseline until the campaign's pools looked ordinary. A single account's coordination
        can rest on one address shared with one other account (a household or office NAT), so
        its shape bar stays at the level of all busy accounts (seed 11: on the untied baseline a
        customer sharing one address with one other account, 11 % CoT prompts and most traffic
        on a new model, crossed it). Later in the window the untied accounts include jailbreak
        and benchmark accounts whose spread can exceed the busy accounts', so a summed row is
        scored against both references and keeps the higher score (:meth:`_score`).
        """
        untied, busy = self.reference(X)
        self.untied_reference_ = len(untied) < len(busy)
        is_busy = int((_col(X, "n_exchanges") >= self.min_exchanges).sum()) >= 10  # as in reference()
        self.reference_ = reference_accounts(self.min_exchanges, is_busy)
        self.summed_reference_ = reference_accounts(self.min_exchanges, is_busy, self.untied_reference_)
        self.baseline_: dict[str, tuple[float, float]] = {}
        self.quantiles_: dict[str, tuple[float, float]] = {}
        self.summed_baseline_: dict[str, tuple[float, float]] = {}
        self.summed_quantiles_: dict[str, tuple[float, float]] = {}
        for ref, base, quant, names in ((busy, self.baseline_, self.quantiles_, SHAPE + COORD),
                                        (untied, self.summed_baseline_, self.summed_quantiles_, SHAPE)):  # fmt: skip
            for name in names:
                v = _col(ref, name)
                base[name] = robust_centre_scale(v, floor=0.02)
                quant[name] = (float(np.median(v)), float(np.quantile(v, 0.99))) if v.size else (0.0, 0.0)
        self.offset_ = 0.5

    def _references(
        self, X: pd.DataFrame
    ) -> list[tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]]:  # noqa: N803
        """``(baselines, quantiles)`` to judge the rows of ``X`` against: all busy accounts, and for
        summed rows (they carry ``pool_k_eff``) also the untied busy accounts for the shape."""
        refs = [(self.baseline_, self.quantiles_)]
        if "pool_k_eff" in X.columns:
            refs.append(({**self.baseline_, **self.summed_baseline_}, {**self.quantiles_, **self.summed_quantiles_}))
        return refs

    def _strengths(
        self,
        X: pd.DataFrame,  # noqa: N803
        base: dict[str, tuple[float, float]] | None = None,
    ) -> dict[str, np.ndarray]:
        """Shape and coordination strengths against ``base`` (default: all busy accounts)."""
        base = self.baseline_ if base is None else base
        out = {}
        k = np.clip(_col(X, "pool_k_eff"), 1.0, max(1.0, float(self.max_pool_k))) if "pool_k_eff" in X else 1.0
        for name in SHAPE:
            c, s = base[name]
            out[name] = np.clip((self._value(X, name) - c) / (s / np.sqrt(k)) - self.shape_z, 0, 3)
        c, sc = base["xacct_template_share"]
        out["xacct_template_share"] = np.clip((self._value(X, "xacct_template_share") - c) / sc - self.coord_z, 0, 3)
        shared = _col(X, "shared_egress_accounts")
        out["shared_egress_accounts"] = np.where(shared >= 2, np.minimum(3.0, np.log2(shared.clip(1)) + 0.5), 0.0)
        return out

    @staticmethod
    def _value(X: pd.DataFrame, name: str) -> np.ndarray:  # noqa: N803
        """A feature as judged: sampled shares (:data:`SAMPLED`) at their lower bound when the
        account's texts were sampled (column ``n_deep`` below ``n_exchanges``), else the value."""
        if name not in SAMPLED or "n_deep" not in X.columns:
            return _col(X, name)
        return sampled_lower_bound(_col(X, name), _col(X, "n_deep"), _col(X, "n_exchanges"))

    def _parts(
        self,
        X: pd.DataFrame,  # noqa: N803
        base: dict[str, tuple[float, float]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        st = self._strengths(X, base)
        coord = np.stack([st[n] for n in COORD], axis=1)
        # scripted collection: single-shot requests plus the two strongest other extraction signs
        # (CoT, capability focus, template, new-model shift…); agentic trace collection is
        # multi-turn, so without the single-shot sign two other strong signs are required
        others = np.sort(np.stack([st[n] for n in SHAPE if n != "no_followup_share"], axis=1), axis=1)
        two = others[:, -2:].sum(axis=1)
        single = st["no_followup_share"] >= 1.0
        shape = np.where(single, st["no_followup_share"] + two, np.where(others[:, -2] >= self.min_second, two, 0.0))
        return shape, coord.max(axis=1) + 0.5 * coord.min(axis=1), st

    def _scores(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Scores of the rows against each reference of :meth:`_references` (one column each)."""
        cols = []
        for base, _ in self._references(X):
            shape, coord, _ = self._parts(X, base)
            gate = (shape >= 1.0) & (coord >= 1.0) & (_col(X, "n_exchanges") >= self.min_exchanges)
            s = squash(shape + coord, self.midpoint)
            cols.append(np.where(gate, s, np.minimum(s, 0.49) * 0.5))
        return np.stack(cols, axis=1)

    def _score(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """A summed row stands out against either reference: the untied accounts add evidence on a
        campaign's first day and never take away what all busy accounts show."""
        return self._scores(X).max(axis=1)

    def _baseline_text(self, name: str, med: float, p99: float, untied: bool) -> str:
        """The baseline a feature was judged on: the untied reference for a summed row's shape."""
        default = "all accounts in the window"
        if untied and name in SHAPE:
            return baseline_text(med, p99, over=getattr(self, "summed_reference_", default))
        return baseline_text(med, p99, over=getattr(self, "reference_", default))

    def evidence(self, X: pd.DataFrame) -> list[list[Evidence]]:  # noqa: N803
        """Evidence items per row, strongest first, against the reference the row stood out on."""
        self._check_fitted()
        refs = self._references(X)
        best = self._scores(X).argmax(axis=1)
        parts = [self._parts(X, base)[2] for base, _ in refs]
        out = []
        for i in range(len(X)):
            r = int(best[i])
            st, quantiles = parts[r], refs[r][1]
            items = []
            for name in SHAPE + COORD:
                if st[name][i] <= 0.5:
                    continue
                med, p99 = quantiles[name]
                why = _WHY[name]
                if name == "cap_max_share" and "cap_max_name" in X.columns:
                    why = f"{why}: {X['cap_max_name'].iloc[i]}"
                if name in SAMPLED and "n_deep" in X.columns:
                    d, n = _col(X.iloc[[i]], "n_deep")[0], _col(X.iloc[[i]], "n_exchanges")[0]
                    if 0 < d < n:
                        low = self._value(X.iloc[[i]], name)[0]
                        why = f"{why} (estimated on {d:.0f} of {n:.0f} exchanges sampled; judged on {low:.3f})"
                items.append(
                    Evidence(
                        name,
                        _col(X.iloc[[i]], name)[0],
                        self._baseline_text(name, med, p99, r == 1),
                        why,
                        _FAMILY[name],
                        float(st[name][i]),
                    )
                )
            items.sort(key=lambda e: -e.strength)
            out.append(items)
        return out


# ---------------------------------------------------------------------- per-account extras (Ibis)
def template_reuse(view: Any, min_uses: int = 3) -> Any:
    """Per account: share of exchanges on templates that at least 3 *other* accounts also use
    ``min_uses`` times or more (a template is scripted when reused; shared when many do so).

    Returns:
        Ibis table ``account_id, xacct_template_share, xacct_accounts``.
    """
    t = view.filter(view.u_template_id.notnull())
    per = t.group_by(["account_id", "u_template_id"]).aggregate(n=t.count())
    heavy = per.filter(per.n >= min_uses)
    tmpl = heavy.group_by("u_template_id").aggregate(n_acc=heavy.account_id.nunique())
    j = per.left_join(tmpl, "u_template_id")
    j = j.select(per.account_id, per.n, n_acc=j.n_acc.fill_null(0))
    shared = (j.n_acc >= 4) & (j.n >= min_uses)
    agg = j.group_by("account_id").aggregate(
        sh=ibis.ifelse(shared, j.n, 0).sum(), tot=j.n.sum(), xacct_accounts=ibis.ifelse(shared, j.n_acc, 0).max()
    )
    return agg.select(
        "account_id", xacct_template_share=(agg.sh / agg.tot).cast("float64"), xacct_accounts=agg.xacct_accounts
    )


def new_model_shift(engine: Any, view: Any, until: datetime) -> pd.DataFrame:  # noqa: ARG001
    """Per account: share of its exchanges since a model's first appearance that use that model,
    for models first seen in the window after its first day (newly launched), and the hours from
    launch to the account's first use.

    Returns:
        pandas frame ``account_id, new_model_share, new_model_delay_h``.
    """
    first = engine.execute(view.group_by("model").aggregate(first=view.ts.min())).to_pandas()
    start = engine.execute(view.ts.min()).column(0)[0].as_py()
    empty = pd.DataFrame({"account_id": [], "new_model_share": [], "new_model_delay_h": []})
    if first.empty or start is None:
        return empty
    first["first"] = pd.to_datetime(first["first"], utc=True)
    start_ts = pd.Timestamp(start)
    start_ts = start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts.tz_convert("UTC")
    new = first[first["first"] > start_ts + pd.Timedelta(days=1)]
    if new.empty:
        return empty
    model, launch = new.sort_values("first").iloc[0][["model", "first"]]
    after = view.filter(view.ts >= ibis.literal(launch.to_pydatetime(), type="timestamp('UTC')"))
    agg = after.group_by("account_id").aggregate(
        n=after.count(), n_new=ibis.ifelse(after.model == model, 1, 0).sum(),
        first_new=ibis.ifelse(after.model == model, after.ts, ibis.null()).min(),
    )  # fmt: skip
    df = engine.execute(agg).to_pandas()
    df["new_model_share"] = df["n_new"] / df["n"].clip(lower=1)
    delay = (pd.to_datetime(df["first_new"], utc=True) - launch).dt.total_seconds() / 3600
    df["new_model_delay_h"] = delay
    return df[["account_id", "new_model_share", "new_model_delay_h"]]
