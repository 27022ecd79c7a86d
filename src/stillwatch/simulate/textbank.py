"""Runtime text bank: pools with pre-computed token counts and pre-filled templates.

Everything expensive (token estimates, Jinja rendering of distillation meta-prompts) happens once
here, so the per-exchange work is a list index.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jinja2.meta

from stillwatch.simulate.corpora import SLOT, Pools, build_pools, load_packed

#: (prompt, reply or None, prompt tokens, reply tokens)
Item = tuple[str, str | None, int, int]


def estimate_tokens(text: str) -> int:
    """Cheap token estimate: about 4 ASCII characters or 0.7 CJK characters per token."""
    n = len(text)
    extra = len(text.encode("utf-8")) - n  # 2 per CJK character
    return max(1, (n - extra // 2) // 4 + int(extra * 0.7))


@dataclass
class TextBank:
    """Pools of real text ready for sampling.

    Attributes:
        pools: Pool name to items.
        sources: Which corpora folders were read (``packed`` for the shipped copy).
    """

    pools: dict[str, list[Item]]
    sources: list[str] = field(default_factory=list)

    def pick(self, pool: str, rng: random.Random) -> Item:
        """A uniformly drawn item of ``pool``."""
        items = self.pools[pool]
        return items[int(rng.random() * len(items))]

    def has(self, pool: str) -> bool:
        """Whether ``pool`` exists and is non-empty."""
        return bool(self.pools.get(pool))

    def reply_for(self, item: Item, lang: str, rng: random.Random) -> tuple[str | None, int]:
        """The real reply paired with ``item`` or, failing that, a real reply of the language."""
        if item[1] is not None:
            return item[1], item[3]
        pool = "en_replies" if lang == "en" else "zh_replies"
        if self.has(pool):
            rep = self.pick(pool, rng)
            return rep[0], rep[2]
        return None, int(rng.lognormvariate(5.6, 0.8))


def _items(pairs: list[tuple[str, str | None]]) -> list[Item]:
    return [(p, r, estimate_tokens(p), estimate_tokens(r) if r else 0) for p, r in pairs]


def _seed_block(seeds: list[tuple[str, str | None]], rng: random.Random, n: int) -> str:
    lines = []
    for i in range(n):
        inst, out = seeds[rng.randrange(len(seeds))]
        lines.append(f"{i + 1}. Instruction: {inst}\n{i + 1}. Input:\n<noinput>\n{i + 1}. Output:\n{out or ''}")
    return "\n###\n".join(lines)


#: Template variables the simulator fills with real corpus text.
_FILLABLE = frozenset(
    {
        "instruction",
        "input",
        "task",
        "question",
        "query",
        "generations",
        "generation",
        "responses",
        "response",
        "reference",
        "student_solution",
        "num_instructions",
        "number",
        "language",
        "examples",
        "loop",
        "range",
    }
)


def _render_templates(pools: Pools, rng: random.Random, per_template: int) -> tuple[list, list]:
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=False)
    seeds = pools["distill_seeds_en"] + pools.get("en_chat", [])[:300]
    replies = [p for p, _ in pools["en_replies"]]
    meta: list[tuple[str, str | None]] = []
    judge: list[tuple[str, str | None]] = []
    for pool_name, out in (("meta_templates", meta), ("judge_templates", judge)):
        for text, name in pools[pool_name]:
            if name in ("alpaca-prompt", "belle-prompt-cn"):
                zh = name == "belle-prompt-cn"
                src = pools["distill_seeds_zh"] if zh else pools["distill_seeds_en"]
                for _ in range(per_template):
                    out.append((text + "\n" + _seed_block(src, rng, 3), None))
                continue
            try:
                tpl = env.from_string(text)
                needed = jinja2.meta.find_undeclared_variables(env.parse(text))
            except jinja2.TemplateError:
                continue
            if not needed <= _FILLABLE:
                continue  # a template needing inputs we have no real text for would render with holes
            for _ in range(per_template):
                inst = seeds[rng.randrange(len(seeds))][0]
                gens = [replies[rng.randrange(len(replies))] for _ in range(rng.randint(2, 4))]
                try:
                    filled = tpl.render(
                        instruction=inst,
                        input=inst,
                        task=inst,
                        question=inst,
                        query=inst,
                        generations=gens,
                        generation=gens[0],
                        responses=gens,
                        response=gens[0],
                        reference=gens[-1],
                        student_solution=gens[0],
                        num_instructions=rng.randint(3, 10),
                        number=rng.randint(3, 10),
                        language="English",
                        examples=None,
                    )
                except Exception:  # a template needing structures we do not model
                    break
                out.append((filled.strip(), None))
    for text, _name in pools["evol_prompts"]:
        for _ in range(per_template):
            inst = seeds[rng.randrange(len(seeds))][0]
            meta.append((text.replace("<PROMPT>", inst), None))
    return meta, judge


def load_bank(corpora: Path | None, seed: int) -> TextBank:
    """Build the text bank from the packed copy (``corpora=None``) or a full corpora folder.

    Raises:
        InputFormatError: the corpora are missing or malformed.
    """
    if corpora is None:
        raw, sources = load_packed(), ["packed"]
    else:
        raw, sources = build_pools(corpora, include_nc=True)
    rng = random.Random(f"textbank:{seed}")
    meta, judge = _render_templates(raw, rng, per_template=40)
    pools = {name: _items(pairs) for name, pairs in raw.items()}
    pools["meta_filled"] = _items(meta)
    pools["judge_filled"] = _items(judge)
    pools["zh_chat_tw"] = _traditional(pools["zh_chat"], rng, 400)
    pools["personas_zh_tw"] = _traditional(pools["personas_zh"], rng, 200)
    if "en_chat_math" in pools:
        pools["en_chat"] = pools["en_chat"] + pools["en_chat_math"][:400]
    return TextBank(pools=pools, sources=sources)


def _traditional(items: list[Item], rng: random.Random, limit: int) -> list[Item]:
    """Taiwan-standard Traditional script versions of (a sample of) Simplified items."""
    from opencc_purepy import OpenCC

    conv = OpenCC("s2tw")
    chosen = items if len(items) <= limit else [items[i] for i in sorted(rng.sample(range(len(items)), limit))]
    return [(conv.convert(p), conv.convert(r) if r else None, pt, rt) for p, r, pt, rt in chosen]


def fill_jailbreak(template: str, payload: str) -> str:
    """Insert ``payload`` into a jailbreak template's slot (or append it)."""
    if SLOT in template:
        return template.replace(SLOT, payload)
    return f"{template}\n\n{payload}"
