"""The restricted share over an account's *end users*: a latent-class mixture of user timelines.

A platform that passes its end users' ids through (``metadata.user_id``) shows which exchanges
belong to the same person. Each person lives in one place: their exchanges are either all local or
all restricted. The account-level mixture (:mod:`stillwatch.detect.mixture`) ignores this and
splits every hour between the two sides, so at a few thousand exchanges it fits the Poisson noise
of single hours (on the demo seed-1 set one US platform with 90 users came out at 55.8 % for a
true 49.1 %, and thinning the small seed-1 platform whose forwarded-for addresses give each
exchange's origin to 1,700 exchanges gave a spread of 3.5–3.8 points between thinnings).

Here each user is one draw from a two-class model. The classes' intensities over the hours are
non-negative combinations of the same columns as the account-level model — local diurnal shapes
at the declared country's plausible offsets and calendar (plus the flat column), restricted shapes
at the restricted regions' offsets and calendars — and an EM alternates:

* each user's class posterior from the hours they are active in (an active hour, not an
  exchange, is the unit of evidence: a session puts many exchanges into one hour, and counting
  them would make every busy user's posterior 0 or 1 on the shape of one session);
* each class's intensity: NNLS of the posterior-weighted counts on that side's columns.

The share is the posterior-weighted exchange count over all exchanges (exchanges with direct
restricted-address evidence count as restricted first, as in the account-level estimate).

It is only used when every restricted region in the model is told apart by its **clock** (≥ 2 h
from every plausible local offset). On the declared clock (a Japanese or Singaporean platform and
the mainland) the two classes differ only on two or three make-up workdays; one person is active on
a few of them at most, the classes are nearly the same intensity and the EM splits users on noise
(the small seed-1 JP platform: 69 % for a true 35 %).

The interval is a bootstrap over days, resampled within day types like the account-level one
(a lone day type, such as the only make-up Saturday, is kept in every replicate), each replicate
drawing one of the model variants and re-running a few EM steps from the full-data posteriors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import nnls

from stillwatch.detect.mixture import _interval

#: Users (distinct ``metadata.user_id``) an account needs for the per-user estimate.
MIN_USERS = 10
#: Share of the exchanges without direct address evidence that must carry a user id.
MIN_ID_COVERAGE = 0.9
#: Lower bound the account-level interval must reach first (the sub-routing detector's ``min_low``).
MIN_ACCOUNT_LOW = 0.02
#: EM steps on the full data; the bootstrap replicates start from its posteriors.
EM_STEPS = 10
BOOT_STEPS = 3

Model = tuple[np.ndarray, np.ndarray]


def _fit(A: np.ndarray, t: np.ndarray, root_w: np.ndarray) -> np.ndarray:  # noqa: N803
    """Fitted intensity ``A·coef`` of the (row-weighted) NNLS ``t ≈ A·coef``, ``coef ≥ 0``."""
    if A.shape[1] == 0 or float(t.sum()) <= 0:
        return np.zeros(len(t))
    coef, _ = nnls(A * root_w[:, None], t * root_w, maxiter=50 * A.shape[1])
    return A @ coef


def _posteriors(active: np.ndarray, w: np.ndarray, lam_l: np.ndarray, lam_r: np.ndarray, prior: float) -> np.ndarray:
    """Restricted-class posterior per user from the hours they are active in."""
    tot = float(w @ (lam_l + lam_r))
    n_rows = max(float(w.sum()), 1.0)
    eps = 1e-3 * tot / n_rows if tot > 0 else 1.0  # an hour no class expects is not impossible
    p_l = (lam_l + eps) / float(w @ (lam_l + eps))
    p_r = (lam_r + eps) / float(w @ (lam_r + eps))
    llr = active @ (w * (np.log(p_r) - np.log(p_l)))
    prior = min(max(prior, 1e-3), 1 - 1e-3)
    z = np.clip(llr + np.log(prior / (1 - prior)), -50, 50)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def latent_class_share(
    users: np.ndarray,
    L: np.ndarray,  # noqa: N803
    R: np.ndarray,  # noqa: N803
    w: np.ndarray | None = None,
    post: np.ndarray | None = None,
    steps: int = EM_STEPS,
) -> tuple[float, np.ndarray]:
    """Restricted share of the users' exchanges and each user's restricted-class posterior.

    Args:
        users: Exchanges per user (rows) and hour (columns).
        L: Local columns per hour (a flat column is added, as in the account-level model).
        R: Restricted columns per hour.
        w: Multiplicity of each hour (bootstrap); default 1.
        post: Starting posteriors (else the account-level NNLS split starts the EM).
        steps: EM steps.

    Returns:
        ``(share, posteriors)``: the posterior-weighted share of the users' exchanges.
    """
    n_h = users.shape[1]
    w = np.ones(n_h) if w is None else np.asarray(w, dtype=float)
    L = L.reshape(n_h, -1)  # noqa: N806
    R = R.reshape(n_h, -1)  # noqa: N806
    L = np.concatenate([L, np.full((n_h, 1), float(L.mean()) if L.size else 1.0)], axis=1)  # noqa: N806
    rows = w > 0
    users, L, R, w = users[:, rows], L[rows], R[rows], w[rows]  # noqa: N806
    root_w = np.sqrt(w)
    y = users.sum(axis=0)
    n_u = users @ w
    if R.shape[1] == 0 or float(n_u.sum()) <= 0:
        return 0.0, np.zeros(len(users))
    active = (users > 0).astype(float)
    if post is None:
        A = np.concatenate([L, R], axis=1)  # noqa: N806
        coef, _ = nnls(A * root_w[:, None], y * root_w, maxiter=50 * A.shape[1])
        lam_l, lam_r = L @ coef[: L.shape[1]], R @ coef[L.shape[1] :]
        mass_r = float(w @ lam_r)
        prior = mass_r / max(float(w @ (lam_l + lam_r)), 1e-12)
        post = _posteriors(active, w, lam_l, lam_r, prior)
        steps -= 1
    for _ in range(max(steps, 0)):
        y_r = post @ users
        lam_r = _fit(R, y_r, root_w)
        lam_l = _fit(L, np.maximum(y - y_r, 0.0), root_w)
        post = _posteriors(active, w, lam_l, lam_r, float(post.mean()))
    return float(post @ n_u / n_u.sum()), post


def _day_draws(day_index: np.ndarray, strata: np.ndarray | None, n_boot: int, seed: int) -> list[np.ndarray]:
    """Hour multiplicities of ``n_boot`` day-bootstrap replicates, days resampled within their type.

    A type with a single day (the only make-up Saturday in the data) keeps it in every replicate.
    """
    rng = np.random.default_rng(seed)
    days, ordinal = np.unique(day_index, return_inverse=True)
    kind = np.zeros(len(day_index), dtype=int) if strata is None else np.asarray(strata)
    first = np.searchsorted(np.sort(ordinal), np.arange(len(days)))
    order = np.argsort(ordinal, kind="stable")
    types: dict[int, list[int]] = {}
    for j in range(len(days)):
        types.setdefault(int(kind[order[first[j]]]), []).append(j)
    out = []
    for _ in range(n_boot):
        mult = np.zeros(len(days))
        for members in types.values():
            if len(members) == 1:
                mult[members[0]] += 1
                continue
            np.add.at(mult, rng.choice(members, size=len(members), replace=True), 1)
        out.append(mult[ordinal])
    return out


def estimate_by_users(
    users: np.ndarray,
    counts: np.ndarray,
    direct: np.ndarray,
    models: Sequence[Model],
    day_index: np.ndarray,
    n_boot: int = 60,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> dict[str, float]:
    """Share estimate and bootstrap interval from the account's end users (see module doc).

    Args:
        users: Exchanges without direct evidence per user (rows) and hour; id-less exchanges may
            be one more row.
        counts: All exchanges per hour.
        direct: Exchanges per hour with direct restricted-address evidence.
        models: ``(L, R)`` per model; the first is the main model, the others are drawn by the
            bootstrap replicates (their full-data shares are in the interval too).
        day_index: Day per hour (bootstrap blocks).
        n_boot: Replicates.
        seed: Random seed (fixed: results are deterministic).
        strata: Day type per hour.

    Returns:
        ``{restricted_share, low, high, confidence, users}``.
    """
    counts = np.asarray(counts, dtype=float)
    direct = np.minimum(np.asarray(direct, dtype=float), counts)

    def total(w: np.ndarray, post: np.ndarray) -> float:
        """Direct exchanges plus the posterior-weighted users' exchanges, over all exchanges."""
        n_all = float(w @ counts)
        if n_all <= 0:
            return 0.0
        return (float(w @ direct) + float(post @ (users @ w))) / n_all

    ones = np.ones(len(counts))
    fits = [latent_class_share(users, L, R) for L, R in models]
    point = total(ones, fits[0][1])
    values = [total(ones, p) for _, p in fits[1:]]
    if n_boot > 0:
        rng = np.random.default_rng(seed + 1)
        for w in _day_draws(day_index, strata, n_boot, seed):
            m = int(rng.integers(len(models)))
            _, p = latent_class_share(users, *models[m], w=w, post=fits[m][1], steps=BOOT_STEPS)
            values.append(total(w, p))
    return {**_interval(point, values), "users": float(len(users))}
