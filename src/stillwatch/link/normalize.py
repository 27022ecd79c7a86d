"""Account-record normalisation for linking: placeholders, over-shared values, derived keys.

Sign-up forms collect junk: ``"N/A"``, ``"test"``, ``"0000"``, empty strings. Linking on such a
value would join every account that typed it, so placeholders become null. Any value shared by an
implausibly large share of accounts (a default card token, a corporate sign-up proxy) is nulled
too, with a warning, because it cannot tell accounts apart. Free-mail domains are *not* nulled:
Splink's term-frequency adjustment already gives them almost no weight.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Values treated as missing in any identity field (compared after strip + lower case).
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "", "n/a", "na", "n.a.", "none", "null", "nil", "-", "--", "?", "test", "testing", "unknown", "unk",
        "undefined", "0", "00", "000", "0000", "00000", "000000", "xxx", "xxxx", "tbd", "placeholder",
        "default", "noname", "no name", "nan", "0.0.0.0", "127.0.0.1", "example.com", "test.com", "zz", "xx",
    }
)  # fmt: skip

#: Identity fields cleaned; free-text fields get placeholder nulling only.
ID_FIELDS: tuple[str, ...] = (
    "org_name", "email_domain", "declared_country", "billing_country", "payment_fingerprint",
    "phone_country", "signup_ip", "email_local",
)  # fmt: skip

#: Fields whose over-shared values are nulled: share of accounts above which a value is junk.
#: (countries and e-mail domains are legitimately common and are left alone.)
OVERSHARE_FIELDS: dict[str, float] = {
    "payment_fingerprint": 0.01, "signup_ip": 0.01, "org_key": 0.01, "email_local": 0.01, "signup_prefix": 0.05,
}  # fmt: skip
#: An over-shared value must also be held by at least this many accounts to be nulled.
OVERSHARE_MIN_COUNT = 50

_LEGAL = re.compile(
    r"\b(inc|llc|ltd|limited|gmbh|sas|pte|sdn|bhd|co|corp|corporation|company|kk|pty|pvt|bv|plc|ag|sa|srl|"
    r"group|global|tech|technologies|holdings)\b"
)
_NON_ALNUM = re.compile(r"[^0-9a-z\u00c0-\uffff]+")


@dataclass
class CleanReport:
    """What cleaning changed.

    Attributes:
        placeholders: Field -> number of placeholder values nulled.
        overshared: Field -> list of (value, accounts) nulled for being shared too widely.
    """

    placeholders: dict[str, int] = field(default_factory=dict)
    overshared: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def is_placeholder(value: object) -> bool:
    """Whether a field value is missing or a known placeholder."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    text = str(value).strip().lower()
    return text in PLACEHOLDERS or (len(text) >= 3 and len(set(text)) == 1 and text[0] in "0x-_.*9")


def org_key(name: object) -> str | None:
    """Organisation name folded for fuzzy comparison: NFKC, lower case, legal suffixes dropped.

    ``"Bluefin Labs Inc."``, ``"BLUEFIN LABS"`` and ``"bluefin labs ltd"`` give ``"bluefin labs"``.
    """
    if is_placeholder(name):
        return None
    text = unicodedata.normalize("NFKC", str(name)).lower().replace("0", "o")
    text = _NON_ALNUM.sub(" ", text)
    text = _LEGAL.sub(" ", text)
    text = " ".join(text.split())
    return text or None


def ip_prefix(ip: object) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address, or ``None`` when unparseable."""
    if is_placeholder(ip):
        return None
    try:
        addr = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if addr.is_private or addr.is_loopback or addr.is_unspecified or addr.is_reserved:
        return None
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def local_pattern(local: object) -> str | None:
    """Shape of an e-mail local part: letters → ``a``, digits → ``9``, runs collapsed with counts.

    ``"li.wei2024"`` and ``"zh.ang1998"`` both give ``"a2.a3 9x4"``-style keys, catching sign-up
    scripts that mint addresses from one pattern.
    """
    if is_placeholder(local):
        return None
    out: list[str] = []
    for ch in str(local).lower():
        cls = "a" if ch.isalpha() else "9" if ch.isdigit() else ch
        if out and out[-1][0] == cls:
            out[-1] = cls + str(int(out[-1][1:] or 1) + 1)
        else:
            out.append(cls)
    return "".join(out)


def _extra_email(extra: object) -> str | None:
    if not isinstance(extra, str) or not extra.startswith("{"):
        return None
    try:
        data = json.loads(extra)
    except ValueError:
        return None
    for key in ("email_local", "email"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value.split("@", 1)[0]
    return None


def _obj(values: list[object]) -> pd.Series:
    return pd.Series(values, dtype="object")


def clean_accounts(accounts: pd.DataFrame) -> tuple[pd.DataFrame, CleanReport]:
    """Normalise account records for linking.

    Args:
        accounts: Rows of the ``accounts`` table (missing columns are allowed).

    Returns:
        The cleaned frame (one row per ``account_id``, derived columns ``org_key``,
        ``signup_prefix``, ``email_pattern``, ``geo_mismatch``, ``created_s``) and a report.
    """
    report = CleanReport()
    df = accounts.copy()
    if "account_id" not in df.columns:
        df["account_id"] = pd.Series(dtype="object")
    df = df[df["account_id"].notna()].drop_duplicates("account_id", keep="last").reset_index(drop=True)
    if "extra" in df.columns and "email_local" not in df.columns:
        df["email_local"] = [_extra_email(x) for x in df["extra"]]
    for col in ID_FIELDS:
        if col not in df.columns:
            df[col] = None
        values = df[col].astype("object")
        mask = values.map(is_placeholder)
        report.placeholders[col] = int(mask.sum() - values.isna().sum())
        df[col] = _obj([None if m else str(v).strip() for v, m in zip(values, mask, strict=True)])
    df["email_domain"] = _obj([v.lower() if isinstance(v, str) else None for v in df["email_domain"]])
    for col in ("declared_country", "billing_country", "phone_country"):
        df[col] = _obj([v.upper() if isinstance(v, str) else None for v in df[col]])
    df["org_key"] = _obj([org_key(v) for v in df["org_name"]])
    df["signup_prefix"] = _obj([ip_prefix(v) for v in df["signup_ip"]])
    df["email_pattern"] = _obj([local_pattern(v) for v in df["email_local"]])
    df["geo_mismatch"] = [
        f"{d}>{b}" if d and b and d != b else None
        for d, b in zip(df["declared_country"], df["billing_country"], strict=True)
    ]
    if "created_at" in df.columns:
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True, errors="coerce")
    else:
        df["created_at"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
    secs = (df["created_at"] - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)
    df["created_s"] = secs.astype("float64")
    n = max(1, len(df))
    for col, share in OVERSHARE_FIELDS.items():
        counts = df[col].value_counts(dropna=True)
        bad = counts[(counts > max(OVERSHARE_MIN_COUNT, share * n))]
        if len(bad):
            report.overshared[col] = [(str(v), int(c)) for v, c in bad.items()]
            log.warning(
                "link: %s value(s) of %s shared by implausibly many accounts nulled: %s",
                len(bad),
                col,
                ", ".join(f"{v!r}×{c}" for v, c in list(bad.items())[:5]),
            )
            df[col] = _obj([None if v in set(bad.index) else v for v in df[col]])
    for col, k in report.placeholders.items():
        if k:
            log.warning("link: %d placeholder value(s) in accounts.%s treated as missing", k, col)
    return df, report
