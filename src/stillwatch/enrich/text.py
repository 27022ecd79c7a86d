"""Text enrichment for one distinct text: script, language, cues, capability tags.

Language and script are *features*, never findings on their own (MISSION.md, fairness): many
legitimate customers write Chinese. Every function here is total: empty, binary, emoji-only,
mixed-script or 1 MB input gets a defined value (``unknown`` where nothing can be said).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

from stillwatch.enrich.prefilter import PatternSet, fold

UNKNOWN = "unknown"
#: Texts longer than this are analysed on their first ANALYSE_CHARS characters only.
ANALYSE_CHARS = 20_000
#: Languages py3langid may answer (a sensible set for API traffic; everything else folds in).
LANGUAGES: tuple[str, ...] = (
    "en", "zh", "ja", "ko", "ru", "uk", "es", "pt", "fr", "de", "it", "nl", "pl", "tr",
    "ar", "fa", "he", "hi", "bn", "vi", "th", "id", "ms", "tl",
)  # fmt: skip

_LOCK = threading.Lock()
_LANGID: Any = None

# ------------------------------------------------------------------------------------- script
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "latin"), (0x1E00, 0x1EFF, "latin"),
    (0x0370, 0x03FF, "greek"), (0x0400, 0x052F, "cyrillic"),
    (0x0590, 0x05FF, "hebrew"), (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "devanagari"), (0x0980, 0x09FF, "bengali"), (0x0E00, 0x0E7F, "thai"),
    (0x1100, 0x11FF, "hangul"), (0xAC00, 0xD7AF, "hangul"), (0x3130, 0x318F, "hangul"),
    (0x3040, 0x30FF, "kana"), (0x31F0, 0x31FF, "kana"),
    (0x3400, 0x4DBF, "han"), (0x4E00, 0x9FFF, "han"), (0xF900, 0xFAFF, "han"), (0x20000, 0x2FA1F, "han"),
)  # fmt: skip
_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0xFE00, 0xFE0F), (0x200D, 0x200D), (0x1F1E6, 0x1F1FF))


def _char_script(cp: int) -> str | None:
    for lo, hi, name in _RANGES:
        if lo <= cp <= hi:
            return name
    return None


def _is_emoji(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _EMOJI_RANGES)


def is_binary(text: str) -> bool:
    """Whether text looks like binary data decoded as text (NULs, many controls or U+FFFD)."""
    sample = text[:4096]
    if not sample:
        return False
    if "\x00" in sample:
        return True
    bad = sample.count("\ufffd") + sum(sample.count(ch) for ch in _CONTROLS if ch in sample)
    return bad / len(sample) > 0.1


#: Control characters that count as binary noise (tab, newline and carriage return do not).
_CONTROLS = tuple(chr(c) for c in range(32) if chr(c) not in "\n\r\t")


def _has_letters(text: str, n: int) -> bool:
    """Whether ``text`` has at least ``n`` alphabetic characters (stops at the n-th)."""
    for ch in text:
        if ch.isalpha():
            n -= 1
            if n <= 0:
                return True
    return n <= 0


def script_profile(text: str) -> dict[str, Any]:
    """Dominant script and shares of Han and Latin letters.

    Returns:
        ``script`` (latin, han_simplified, han_traditional, han, japanese, hangul, cyrillic,
        arabic, …, ``mixed`` when no script has 60 % of letters, ``emoji`` for emoji-only,
        ``unknown`` for empty/binary/symbol-only), ``han_share``, ``latin_share``.
    """
    sample = text[:ANALYSE_CHARS]
    counts: dict[str, int] = {}
    emoji = 0
    for ch in sample:
        cp = ord(ch)
        name = _char_script(cp)
        if name is None:
            if _is_emoji(cp):
                emoji += 1
            continue
        if name == "latin" and not ch.isalpha():
            continue
        counts[name] = counts.get(name, 0) + 1
    return _decide_script(counts, emoji, sample, None)


_SCRIPT_NAMES: tuple[str, ...] = tuple(sorted({name for _, _, name in _RANGES}))
_LUT_SIZE = 0x30000  # every range above ends below this; larger code points have no script


@lru_cache(maxsize=1)
def _script_lut() -> tuple[Any, Any]:
    """Code point -> script id (0 = none; Latin non-letters are none) and -> emoji flag."""
    import numpy as np

    lut = np.zeros(_LUT_SIZE + 1, dtype=np.uint8)
    for lo, hi, name in _RANGES:
        lut[lo : hi + 1] = _SCRIPT_NAMES.index(name) + 1
        if name == "latin":
            for cp in range(lo, hi + 1):
                if not chr(cp).isalpha():
                    lut[cp] = 0
    emoji = np.zeros(_LUT_SIZE + 1, dtype=bool)
    for lo, hi in _EMOJI_RANGES:
        emoji[lo : hi + 1] = True
    emoji &= lut == 0
    return lut, emoji


def script_profiles(texts: list[str]) -> list[dict[str, Any]]:
    """:func:`script_profile` of many texts at once (same results; numpy look-up tables).

    The characters of all texts are classified in one vectorised pass; only the per-text
    decision (and the Simplified/Traditional split of Han text) runs per text.
    """
    import numpy as np

    if not texts:
        return []
    lut, emoji_lut = _script_lut()
    samples = [t[:ANALYSE_CHARS] for t in texts]
    cps = np.frombuffer("".join(samples).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cps = np.minimum(cps, _LUT_SIZE)
    ids = lut[cps]
    lengths = np.fromiter((len(s) for s in samples), dtype=np.int64, count=len(samples))
    owner = np.repeat(np.arange(len(samples)), lengths)
    k = len(_SCRIPT_NAMES) + 1
    counts = np.bincount(owner * k + ids, minlength=len(samples) * k).reshape(len(samples), k)
    emojis = np.bincount(owner, weights=emoji_lut[cps], minlength=len(samples))
    ends = np.cumsum(lengths)
    han_id = _SCRIPT_NAMES.index("han") + 1
    out = []
    for i, sample in enumerate(samples):
        row = {name: int(c) for name, c in zip(_SCRIPT_NAMES, counts[i, 1:], strict=True) if c}
        han_chars = None
        if row.get("han"):
            seg = cps[ends[i] - lengths[i] : ends[i]]
            han_chars = seg[ids[ends[i] - lengths[i] : ends[i]] == han_id].astype("<u4").tobytes().decode("utf-32-le")
        out.append(_decide_script(row, int(emojis[i]), sample, han_chars))
    return out


def _decide_script(counts: dict[str, int], emoji: int, sample: str, han_chars: str | None) -> dict[str, Any]:
    letters = sum(counts.values())
    if letters == 0:
        return {"script": "emoji" if emoji else UNKNOWN, "han_share": 0.0, "latin_share": 0.0}
    han_share = counts.get("han", 0) / letters
    latin_share = counts.get("latin", 0) / letters
    top, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if counts.get("kana", 0) >= 0.1 * letters and counts.get("kana", 0) + counts.get("han", 0) >= 0.6 * letters:
        script = "japanese"
    elif n / letters < 0.6:
        script = "mixed"
    elif top == "han":
        script = han_variant(sample, han_chars)
    else:
        script = top
    return {"script": script, "han_share": round(han_share, 4), "latin_share": round(latin_share, 4)}


def han_variant(text: str, han_chars: str | None = None) -> str:
    """Simplified vs Traditional Chinese with hanzidentifier.

    Args:
        text: The text.
        han_chars: Its Han characters in order, when already extracted.

    Returns:
        ``han_simplified``, ``han_traditional``, ``han`` (characters common to both) or
        ``han_mixed`` (both scripts' exclusive characters present).
    """
    import hanzidentifier

    han = han_chars
    if han is None:
        han = "".join(ch for ch in text[:ANALYSE_CHARS] if _char_script(ord(ch)) == "han")
    if not han:
        return UNKNOWN
    kind = hanzidentifier.identify(han)
    return {
        hanzidentifier.SIMPLIFIED: "han_simplified",
        hanzidentifier.TRADITIONAL: "han_traditional",
        hanzidentifier.BOTH: "han",
        hanzidentifier.MIXED: "han_mixed",
    }.get(kind, UNKNOWN)


# ----------------------------------------------------------------------------------- language
def _identifier() -> Any:
    global _LANGID
    if _LANGID is None:
        with _LOCK:
            if _LANGID is None:
                from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
                ident.set_languages(list(LANGUAGES))
                _LANGID = ident
    return _LANGID


def language(text: str, script: str) -> tuple[str, float]:
    """Language code (restricted to :data:`LANGUAGES`) and its probability.

    Han-script text is answered ``zh`` and Japanese-script ``ja`` directly (py3langid does not
    split Hans/Hant, and the script already decides); very short or symbol-only text is
    ``unknown``.
    """
    decided = _language_without_model(text, script)
    if decided is not None:
        return decided
    lang, prob = _identifier().classify(text[:2000])
    return str(lang), round(float(prob), 4)


def _language_without_model(text: str, script: str) -> tuple[str, float] | None:
    """The answer when script or length decides; ``None`` when py3langid must classify."""
    if script in ("han_simplified", "han_traditional", "han", "han_mixed"):
        return "zh", 1.0
    if script == "japanese":
        return "ja", 1.0
    if script == "hangul":
        return "ko", 1.0
    if script in (UNKNOWN, "emoji"):
        return UNKNOWN, 0.0
    if not _has_letters(text[:2000], 3):
        return UNKNOWN, 0.0
    return None


def languages(items: list[tuple[str, str]]) -> list[tuple[str, float]]:
    """:func:`language` of many ``(text, script)`` pairs; py3langid classifies them in one batch
    (:func:`stillwatch.enrich.langbatch.classify_batch`, same answers)."""
    from stillwatch.enrich.langbatch import classify_batch

    out: list[tuple[str, float] | None] = [_language_without_model(t, sc) for t, sc in items]
    need = [i for i, v in enumerate(out) if v is None]
    if need:
        answers = classify_batch(_identifier(), [items[i][0][:2000] for i in need])
        for i, (lang, prob) in zip(need, answers, strict=True):
            out[i] = (str(lang), round(float(prob), 4))
    return [v if v is not None else (UNKNOWN, 0.0) for v in out]


# -------------------------------------------------------------------------------- cues, tags
_COT_CUES: tuple[tuple[str, str], ...] = (
    ("step_by_step", r"step[- ]by[- ]step|step[- ]wise reasoning"),
    ("show_work", r"show (your|all|the) (work|working|reasoning|steps)|explain your reasoning"),
    ("think_tags", r"<\s*/?\s*(thinking|think|reasoning|scratchpad|thought)\s*>"),
    ("chain_of_thought", r"chain[- ]of[- ]thought|\bcot\b|reason (through|carefully)|think (carefully|aloud|out loud)"),
    ("before_answer", r"before (giving|answering|you answer)|first (think|reason)|let'?s think"),
    ("zh_step", r"逐步|一步一步|一步步|分步|按步骤"),
    ("zh_reasoning", r"推理过程|推理過程|思考过程|思考過程|思维链|思維鏈|详细解释|詳細解釋|给出理由|解题过程|解題過程"),
)
_CAPS: tuple[tuple[str, str], ...] = (
    ("code", r"```|\bdef |\bfunction\b|\bclass \w|\bimport \w|#include|\bSELECT\b.*\bFROM\b|\bpython\b|javascript|"
     r"typescript|\bcode\b|\bbug\b|stack ?trace|编程|代码|程式|函数|函數"),
    ("math", r"\bsolve\b|\bequation|\bintegral|\bderivative|\bprove\b|\btheorem|\bcalculate|\d+\s*[+\-*/^=]\s*\d+|"
     r"\\frac|\\sum|数学|數學|方程|计算|計算|证明|證明"),
    ("tool_use", r"\btool[_ ]?(call|use)|function[_ ]call|\bagent\b|\bapi call|\bbrowse\b|工具调用|调用工具|智能体"),
    ("reasoning", r"\breason|\blogic|\bpuzzle|\briddle|why does|推理|逻辑|邏輯"),
    ("translation", r"\btranslat|\binto (english|chinese|japanese|french|german|spanish)|"
     r"翻译|翻譯|译成|譯成|英译中|中译英"),
    ("grading", r"\brubric|\bgrade\b|\bgrading|\bscore (the|this|each)|\brate (the|this|each)|\bjudge\b|\bevaluate the "
     r"(response|answer)|which (response|answer) is better|评分|評分|打分|评判|评价标准|評價標準"),
    ("safety_sensitive", r"\bweapon|\bexplosive|\bbomb\b|\bmalware|\bransomware|\bexploit\b|\bpoison|\bbioweapon|"
     r"\bnerve agent|\bsynthesi[sz]e (meth|drugs)|\bhack(ing)? into|炸弹|炸彈|病毒|武器|毒品|黑客"),
    ("censorship_rewrite", r"\bcensor|\bsensitive (topic|political)|\bpolitically sensitive|\brewrite .{0,40}"
     r"(safe|neutral|compliant)|\bdissident|\btiananmen|\bfalun|\btibet|\buyghur|\bxinjiang|\btaiwan independence|"
     r"敏感词|敏感詞|审查|審查|和谐|改写.{0,10}(合规|安全)|六四|天安门|天安門|法轮|法輪|台独|台獨|新疆|西藏"),
)  # fmt: skip
_COT_RX = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in _COT_CUES)
_CAP_RX = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in _CAPS)
CAPABILITIES: tuple[str, ...] = tuple(name for name, _ in _CAPS)

_ZERO_WIDTH = re.compile(r"[A-Za-z][\u200b\u200c\u200d\u2060\ufeff][A-Za-z]")
_CN_MAINLAND = re.compile(
    r"npmmirror|registry\.npm\.taobao|pypi\.tuna\.tsinghua|mirrors\.aliyun|mirrors\.tencent|goproxy\.cn|gitee\.com|"
    r"mirrors\.ustc|\.aliyuncs\.com|dingtalk|weixin\.qq|alipay|\+86[\s-]?1\d{2}",
    re.IGNORECASE,
)


#: Every cue, tag and artifact pattern, searched together (one literal pass per text).
_PATTERNS = PatternSet(
    [
        *((f"cot:{name}", rx) for name, rx in _COT_RX),
        *((f"cap:{name}", rx) for name, rx in _CAP_RX),
        ("zero_width", _ZERO_WIDTH),
        ("cn_mainland_artifact", _CN_MAINLAND),
    ]
)


def pattern_hits(text: str, folded: str | None = None) -> list[str]:
    """Ids of the cue, tag and artifact patterns found in the text's first ANALYSE_CHARS characters.

    Ids are ``cot:<cue>`` (chain-of-thought elicitation, English and Chinese), ``cap:<tag>``
    (capability tags), ``zero_width`` (zero-width characters inside a Latin word, a CLIProxyAPI
    cloaking artifact) and ``cn_mainland_artifact`` (package mirrors, Gitee, Aliyun OSS, +86
    mobile numbers), in that order.

    Args:
        text: The text.
        folded: :func:`stillwatch.enrich.prefilter.fold` of its first ANALYSE_CHARS characters,
            when already computed.
    """
    sample = text[:ANALYSE_CHARS]
    return _PATTERNS.matching(sample, fold(sample) if folded is None else folded)


def cot_cues(text: str, folded: str | None = None) -> list[str]:
    """Chain-of-thought elicitation cue ids found in the text (English and Chinese)."""
    return [h[4:] for h in pattern_hits(text, folded) if h.startswith("cot:")]


def capability_tags(text: str, folded: str | None = None) -> list[str]:
    """Capability tags (code, math, tool_use, reasoning, translation, grading, …) of the text."""
    return [h[4:] for h in pattern_hits(text, folded) if h.startswith("cap:")]


def has_zero_width_in_word(text: str) -> bool:
    """Zero-width characters inside a Latin word (a CLIProxyAPI cloaking artifact)."""
    return _ZERO_WIDTH.search(text[:ANALYSE_CHARS]) is not None


@lru_cache(maxsize=1)
def _warm() -> bool:
    _identifier()
    return True


def _empty_features(text: str) -> dict[str, Any]:
    return {
        "n_chars": len(text),
        "is_empty": not text.strip(),
        "is_binary": False,
        "script": UNKNOWN,
        "han_share": 0.0,
        "latin_share": 0.0,
        "lang": UNKNOWN,
        "lang_prob": 0.0,
        "cot_cues": "",
        "has_cot_cue": False,
        "zero_width": False,
        "cn_mainland_artifact": False,
        **{f"cap_{c}": False for c in CAPABILITIES},
    }


def analyse(text: str | None) -> dict[str, Any]:
    """All per-text features of one text (never raises).

    Returns:
        A dict with n_chars, is_empty, is_binary, script, han_share, latin_share, lang,
        lang_prob, cot_cues (comma-joined ids), has_cot_cue, cap_<name> flags, zero_width,
        cn_mainland_artifact.
    """
    return analyse_batch([text])[0]


def analyse_batch(texts: list[str | None], with_language: list[bool] | None = None) -> list[dict[str, Any]]:
    """:func:`analyse` of many texts; scripts are profiled in one vectorised pass (never raises).

    Args:
        texts: The texts.
        with_language: Per text, whether to identify its language (default: every text). A text
            left out gets ``lang`` and ``lang_prob`` null (not analysed, unlike ``unknown``).
    """
    rows: list[dict[str, Any]] = []
    cleans: list[tuple[int, str]] = []
    for text in texts:
        text = text or ""
        base = _empty_features(text)
        rows.append(base)
        if base["is_empty"]:
            continue
        if is_binary(text):
            base["is_binary"] = True
            continue
        cleans.append((len(rows) - 1, unicodedata.normalize("NFC", text[:ANALYSE_CHARS])))
    try:
        profiles: list[dict[str, Any] | None] = list(script_profiles([c for _, c in cleans]))
    except Exception:  # noqa: BLE001 - defensive: profile text by text below
        profiles = [None] * len(cleans)
    failed: set[int] = set()
    for (i, clean), profile in zip(cleans, profiles, strict=True):
        try:
            rows[i].update(profile if profile is not None else script_profile(clean))
        except Exception:  # noqa: BLE001 - one bad text never stops the run
            rows[i]["script"] = UNKNOWN
            failed.add(i)
    cleans = [(i, c) for i, c in cleans if i not in failed]
    identify = [with_language is None or with_language[i] for i, _ in cleans]
    try:
        found = iter(languages([(c, rows[i]["script"]) for (i, c), ok in zip(cleans, identify, strict=True) if ok]))
        langs: list[tuple[str, float] | None] = [next(found) if ok else None for ok in identify]
    except Exception:  # noqa: BLE001 - defensive: text by text below
        langs = [None] * len(cleans)
    for (i, clean), lang, ok in zip(cleans, langs, identify, strict=True):
        base = rows[i]
        try:
            if not ok:
                base["lang"], base["lang_prob"] = None, None
            else:
                base["lang"], base["lang_prob"] = lang if lang is not None else language(clean, base["script"])
            hits = pattern_hits(clean)
            cues = [h[4:] for h in hits if h.startswith("cot:")]
            base["cot_cues"] = ",".join(cues)
            base["has_cot_cue"] = bool(cues)
            for hit in hits:
                if hit.startswith("cap:"):
                    base[f"cap_{hit[4:]}"] = True
            base["zero_width"] = "zero_width" in hits
            base["cn_mainland_artifact"] = "cn_mainland_artifact" in hits
        except Exception:  # noqa: BLE001 - one bad text never stops the run
            base["script"] = UNKNOWN
    return rows
