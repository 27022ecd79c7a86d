"""Text normalisation, payload masking and hashed n-gram features for the jailbreak detector.

The detector and the retro-hunt share these functions, so the training script
(``scripts/train_jailbreak.py``), scoring and template similarity see the same text:

* :func:`normalise` — NFKC, zero-width and control characters removed, lower case, whitespace
  collapsed, the head of long texts kept (jailbreak wrappers lead; payloads trail).
* :func:`mask_payload` — template slots, quoted spans, numbers, URLs and code replaced by
  tokens (:func:`stillwatch.enrich.templates.mask`), so two fills of one template with different
  requests look alike. The classifier sees masked text too: it learns the wrapper, not the
  harmful request. A text that is one code fence from start to end is unwrapped first: masked
  whole it would be the bare ``<CODE>`` token (27 in-the-wild jailbreaks are pasted inside a
  fence; ``jbf-1`` learned ``<CODE>`` as a jailbreak cue and flagged short code questions, and a
  fence hid any wrapper from the classifier).
* :func:`vectorise` — hashed character 2–5-grams (within word boundaries) plus word 1–2-grams,
  binary, L2-normalised. Hashing needs no vocabulary, so the shipped artifact is just weights.

Nothing here depends on the script or language of the text beyond Unicode normalisation:
Chinese and English are hashed the same way (fairness: MISSION.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from stillwatch.enrich.client import moved_system_prefixes
from stillwatch.enrich.templates import mask

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

#: Characters of normalised text the features look at (head of the text).
HEAD_CHARS = 6000
#: Characters kept from the end of long texts (the request usually comes last).
TAIL_CHARS = 1000
CHAR_FEATURES = 2**20
WORD_FEATURES = 2**18
N_FEATURES = CHAR_FEATURES + WORD_FEATURES
#: Version of the feature function; the model manifest records it and loading checks it.
FEATURES_VERSION = "jbf-2"

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WS = re.compile(r"\s+")
#: A normalised text that is one code fence from start to end (no fence inside).
_FENCED = re.compile(r"^```((?:(?!```).)*)```$", re.DOTALL)
#: A block that software puts ahead of a person's words in a user turn (:func:`split_turn`).
REMINDER_OPEN, REMINDER_CLOSE = "<system-reminder>", "</system-reminder>"
#: Explicit payload slots used by template collections (PyRIT, GPTFuzzer, garak, jailbreakchat).
SLOT = re.compile(
    r"\{\{\s*prompt\s*\}\}|\{generator\.name\}|\[INSERT PROMPT HERE\]|\[insert (?:x|prompt|question)\]"
    r"|\[PROMPT\]|<PROMPT>|\{prompt\}|\{query\}|\{question\}",
    re.IGNORECASE,
)

#: System-prompt extraction probe patterns (English and Chinese), after :func:`normalise`.
SYSPROMPT_PROBES: tuple[tuple[str, str], ...] = (
    ("repeat_instructions", r"(repeat|print|output|show|display|reveal|recite|dump|copy)\b.{0,40}"
     r"(system (prompt|message|instructions?)|initial (prompt|instructions?)|(your|the) instructions|"
     r"(starting|original|hidden) (prompt|instructions?)|text above|everything above|words above)"),
    ("what_instructions", r"what (are|were) (your|the) (initial|original|system|hidden|first) "
     r"(instructions?|prompt|rules)|what were you told before"),
    ("ignore_then_reveal", r"ignore (all )?(previous|prior|above) instructions.{0,80}(what|print|reveal|show|repeat)"),
    ("begin_with_you_are", r"(begin|start)(ning)? (with|your answer with) .?(you are|my instructions are)"),
    ("encode_prompt", r"(base64|rot13|hex|encode).{0,40}(system prompt|initial instructions|instructions you)"),
    ("code_framing", r"console\.log\(\s*system_?prompt|print\(\s*system_?prompt|<system_?prompt>|"
     r"system message in json"),
    ("zh_reveal", r"(重复|输出|显示|打印|告诉我|泄露).{0,12}(系统提示|系统提示词|初始指令|你的指令|上面的(内容|文字))"),
)  # fmt: skip
_PROBE_RX = tuple((name, re.compile(p, re.IGNORECASE | re.DOTALL)) for name, p in SYSPROMPT_PROBES)


def normalise(text: str | None) -> str:
    """Text as the features see it.

    NFKC, invisible and control characters removed (zero-width cloaking does not hide a
    template), lower case, whitespace collapsed; long texts keep their first
    :data:`HEAD_CHARS` and last :data:`TAIL_CHARS` characters.

    Args:
        text: Any text (``None`` and empty give ``""``).

    Returns:
        The normalised text.
    """
    if not text:
        return ""
    raw = text[: (HEAD_CHARS + TAIL_CHARS) * 4]
    out = unicodedata.normalize("NFKC", raw)
    out = _CONTROL.sub(" ", _INVISIBLE.sub("", out))
    out = _WS.sub(" ", out.lower()).strip()
    if len(out) > HEAD_CHARS + TAIL_CHARS:
        out = out[:HEAD_CHARS] + " " + out[-TAIL_CHARS:]
    return out


def mask_payload(text: str | None) -> str:
    """Normalised text with template slots and variable spans replaced by tokens.

    Args:
        text: Any text.

    Returns:
        The payload-insensitive form used for n-grams and template similarity.
    """
    norm = normalise(text)
    fenced = _FENCED.match(norm)
    if fenced:
        norm = fenced.group(1).strip()
    if not norm:
        return ""
    return mask(SLOT.sub(" <slot> ", norm), limit=HEAD_CHARS + TAIL_CHARS + 100)


def sysprompt_probes(text: str | None) -> list[str]:
    """Ids of the system-prompt extraction probe patterns found in a text."""
    norm = normalise(text)
    return [name for name, rx in _PROBE_RX if rx.search(norm)]


@lru_cache(maxsize=1)
def _vectorisers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    char = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), n_features=CHAR_FEATURES, alternate_sign=False,
        binary=True, norm=None, lowercase=False, dtype=np.float32,
    )  # fmt: skip
    word = HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), n_features=WORD_FEATURES, alternate_sign=False,
        binary=True, norm=None, lowercase=False, token_pattern=r"(?u)<\w+>|\b\w\w+\b|[^\W\d_]",
        dtype=np.float32,
    )  # fmt: skip
    return char, word


def vectorise(texts: Iterable[str | None], *, masked: bool = False) -> csr_matrix:
    """Hashed, binary, L2-normalised character and word n-gram rows of texts.

    Args:
        texts: Raw texts (``None`` allowed).
        masked: Whether the texts are already :func:`mask_payload` output.

    Returns:
        A ``(n, N_FEATURES)`` float32 CSR matrix.
    """
    from scipy.sparse import hstack
    from sklearn.preprocessing import normalize

    docs = [t or "" for t in texts] if masked else [mask_payload(t) for t in texts]
    char, word = _vectorisers()
    mat = hstack([char.transform(docs), word.transform(docs)], format="csr", dtype=np.float32)
    return normalize(mat, norm="l2", copy=False)


def split_turn(text: str) -> list[str]:
    """A user turn as the texts to score: system text moved into it, and the person's own words.

    Relay software that disguises callers as the official client moves the caller's system
    prompt into the user turns (research/relay-intel.md §1.1, §1.2): CLIProxyAPI's cloaking puts
    it in a ``<system-reminder>`` block at the start of the first user turn, ahead of the person's
    question; claude-relay-service sends it as a whole first user turn behind a marker (the
    indicators marked ``moves_system``, :func:`stillwatch.enrich.client.moved_system_prefixes`).
    Scored as one text, an application's role-assigning system prompt and the reminder markup
    read as a person's role-play request (altgen seed 61: 31 of 46 false exchange findings were
    one CLIProxyAPI relay's chat-app users). Each leading ``<system-reminder>`` block is scored on
    its own, as a system prompt is, and the rest of the turn as the person's words; the CRS marker
    is dropped from its moved text. Nothing is discarded, so a jailbreak inside a moved system
    prompt is still scored. A block without its closing tag is left as it is.

    Args:
        text: One user turn.

    Returns:
        Non-empty parts: moved system texts first, then the rest of the turn.
    """
    rest = text.lstrip()
    for marker in moved_system_prefixes():
        if rest.startswith(marker):
            return [p for p in (rest[len(marker) :].strip(),) if p]
    parts: list[str] = []
    while rest.startswith(REMINDER_OPEN):
        end = rest.find(REMINDER_CLOSE)
        if end < 0:
            break
        parts.append(rest[len(REMINDER_OPEN) : end].strip())
        rest = rest[end + len(REMINDER_CLOSE) :].lstrip()
    return [p for p in (*parts, rest) if p.strip()]


def exchange_texts(
    system_text: str | None, user_texts: Sequence[str | None] | Any | None, *, all_turns: bool = False
) -> list[str]:
    """The texts of one exchange to score.

    By default the system prompt and the *last* user turn: earlier turns are re-sent with every
    follow-up of a conversation and were scored in their own exchange, so scoring them again
    would flag a whole conversation for one turn. The retro-hunt passes ``all_turns=True``
    (first two and last two turns). Each chosen turn is split by :func:`split_turn` (a system
    prompt moved into it by relay software is scored apart from the person's words).

    Args:
        system_text: The system prompt.
        user_texts: User turns in order (a list, a numpy array from Arrow, or None).
        all_turns: Also return earlier user turns.

    Returns:
        Non-empty texts, system first.
    """
    turns = [t for t in (list(user_texts) if user_texts is not None else []) if isinstance(t, str) and t.strip()]
    if not all_turns:
        turns = turns[-1:]
    elif len(turns) > 4:
        turns = turns[:2] + turns[-2:]
    out = [system_text] if isinstance(system_text, str) and system_text.strip() else []
    return out + [part for turn in turns for part in split_turn(turn)]


def cosine(a: csr_matrix, b: csr_matrix) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the single row ``b`` (rows are L2-normalised)."""
    return np.asarray((a @ b.T).toarray()).ravel()
