"""Sign-up identities: organisation names, e-mail domains, plans, sign-up times and addresses."""

from __future__ import annotations

import random

from stillwatch.simulate.populations.base import Account, Ctx, payment_fp, rand_hex, rand_id

_ADJ = (
    "Blue",
    "North",
    "Bright",
    "Silver",
    "Open",
    "Clear",
    "Swift",
    "Quiet",
    "Red",
    "Green",
    "Iron",
    "Cedar",
    "Harbor",
    "Summit",
    "Lumen",
    "Polar",
    "Vector",
    "Atlas",
    "Nova",
    "Pine",
    "Copper",
    "Maple",
    "Orbit",
)
_NOUN = (
    "fin",
    "wind",
    "path",
    "stack",
    "field",
    "leaf",
    "rock",
    "wave",
    "bridge",
    "forge",
    "lane",
    "point",
    "gate",
    "loop",
    "byte",
    "sail",
    "spring",
    "grid",
    "mint",
    "peak",
)
_SUFFIX = (
    "Labs",
    "Analytics",
    "Software",
    "AI",
    "Health",
    "Systems",
    "Studio",
    "Data",
    "Robotics",
    "Learning",
    "Capital",
    "Media",
    "Logistics",
    "Consulting",
    "Security",
)
_LEGAL = {
    "US": ("Inc.", "LLC", ""),
    "GB": ("Ltd", "Ltd."),
    "DE": ("GmbH",),
    "FR": ("SAS",),
    "SG": ("Pte. Ltd.",),
    "MY": ("Sdn. Bhd.",),
    "TW": ("Co., Ltd.",),
    "JP": ("K.K.", "Inc."),
    "AU": ("Pty Ltd",),
    "CA": ("Inc.", "Ltd."),
    "HK": ("Limited",),
    "IN": ("Pvt. Ltd.",),
    "NL": ("B.V.",),
    "KR": ("Co., Ltd.",),
}
_CN_CITIES = ("Beijing", "Shanghai", "Shenzhen", "Hangzhou", "Guangzhou", "Chengdu", "Nanjing", "Wuhan")
_CN_WORDS = (
    "Xinyuan",
    "Zhiyun",
    "Tianqi",
    "Haoran",
    "Jingwei",
    "Ruixin",
    "Hongtu",
    "Yunfan",
    "Shuzhi",
    "Qiming",
    "Lingxi",
    "Chuangxiang",
    "Huaxin",
    "Boyu",
    "Zhongke",
)
_CN_FIELDS = (
    "Network Technology",
    "Information Technology",
    "Intelligent Technology",
    "Data Technology",
    "Software",
    "Digital Technology",
)
PERSONAL = ("gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "hotmail.com")
ZH_PERSONAL = {
    "TW": ("gmail.com", "yahoo.com.tw", "hotmail.com", "outlook.com"),
    "SG": ("gmail.com", "outlook.com", "hotmail.com", "yahoo.com.sg"),
    "MY": ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com"),
    "US": ("gmail.com", "outlook.com", "qq.com", "163.com"),
    "CA": ("gmail.com", "outlook.com", "hotmail.com", "qq.com"),
    "AU": ("gmail.com", "outlook.com", "bigpond.com", "qq.com"),
}
UNIVERSITIES = {
    "US": ("stanford.edu", "cs.cmu.edu", "berkeley.edu", "umich.edu", "cs.washington.edu", "nyu.edu"),
    "GB": ("ox.ac.uk", "cam.ac.uk", "ucl.ac.uk", "ed.ac.uk"),
    "DE": ("tum.de", "uni-tuebingen.de"),
    "CA": ("utoronto.ca", "mila.quebec", "ubc.ca"),
    "SG": ("nus.edu.sg", "ntu.edu.sg"),
    "CH": ("ethz.ch", "epfl.ch"),
    "AU": ("unimelb.edu.au", "anu.edu.au"),
    "TW": ("ntu.edu.tw",),
}
_DAY = 86_400_000


def org_name(rng: random.Random, country: str) -> str:
    """A company-style name with the country's legal suffix."""
    legal = rng.choice(_LEGAL.get(country, ("Inc.",)))
    name = f"{rng.choice(_ADJ)}{rng.choice(_NOUN)} {rng.choice(_SUFFIX)}"
    return f"{name} {legal}".strip()


def cn_company(rng: random.Random) -> str:
    """A mainland company name in its usual English rendering."""
    return f"{rng.choice(_CN_CITIES)} {rng.choice(_CN_WORDS)} {rng.choice(_CN_FIELDS)} Co., Ltd."


def org_variant(rng: random.Random, name: str) -> str:
    """A near-copy of an organisation name, as operators re-register it after a ban."""
    choice = rng.randrange(5)
    if choice == 0:
        return name.upper()
    if choice == 1:
        return name.replace(" ", "", 1)
    if choice == 2:
        return name.rsplit(" ", 1)[0] + " " + rng.choice(("Inc", "Ltd", "Group", "Global", "Tech"))
    if choice == 3:
        return name.replace("o", "0", 1) if "o" in name else name + " 2"
    return name.lower().replace(".", "")


def domain_of(name: str, rng: random.Random) -> str:
    """A plausible company domain."""
    slug = "".join(ch for ch in name.split(" ")[0].lower() if ch.isalnum()) or "corp"
    return slug + rng.choice((".com", ".io", ".ai", ".co", ".dev"))


_PHONES = ("US", "GB", "IN", "DE", "FR", "MY", "PH", "VN", "BR", "NG", "CA", "AU", "SG")


def _phone(rng: random.Random, country: str) -> str | None:
    """The verified phone's country: usually the declared one; expats and travellers differ."""
    x = rng.random()
    if x < 0.05:
        return None
    if x < 0.09:
        return rng.choice(_PHONES)
    return country


def make_account(
    ctx: Ctx,
    rng: random.Random,
    ips: object,
    *,
    label: str,
    group: str,
    country: str,
    campaign_id: str | None = None,
    company: bool | None = None,
    plan: str | None = None,
    created_ms: int | None = None,
    email_domain: str | None = None,
    signup_ip: str | None = None,
    payment: str | None = None,
    billing_country: str | None = None,
    phone_country: str | None = None,
    n_keys: int = 1,
) -> Account:
    """An account with a coherent sign-up identity (override any field to plant a link)."""
    is_company = rng.random() < 0.45 if company is None else company
    org = org_name(rng, country) if is_company else None
    created = (
        created_ms if created_ms is not None else ctx.start_ms - rng.randrange(2, 700) * _DAY - rng.randrange(_DAY)
    )
    sampler = ips  # IpSampler
    acct = Account(
        account_id=rand_id(rng, "acct_", 16),
        created_ms=created,
        label=label,
        group=group,
        campaign_id=campaign_id,
        org_name=org,
        email_domain=email_domain or (domain_of(org, rng) if org and rng.random() < 0.8 else rng.choice(PERSONAL)),
        declared_country=country if rng.random() > 0.04 else None,
        billing_country=billing_country or country,
        payment_fingerprint=payment or payment_fp(rng),
        phone_country=phone_country or _phone(rng, country),
        signup_ip=signup_ip or sampler.ip(country, "residential" if rng.random() < 0.8 else "hosting"),  # type: ignore[attr-defined]
        plan=plan or ("team" if is_company and rng.random() < 0.3 else ("pro" if rng.random() < 0.15 else "api")),
    )
    acct.keys = [rand_id(rng, "key_", 12, "0123456789abcdef") for _ in range(max(1, n_keys))]
    if rng.random() < 0.03:
        acct.keys.append("key_" + rand_hex(rng, 12))
    return acct
