"""The feature registry is complete and docs/features.md is generated from it."""

from __future__ import annotations

from pathlib import Path

from stillwatch.features.registry import TABLE_KEYS, by_table, describe, registry, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_doc_in_sync_with_registry() -> None:
    assert DOC.read_text("utf-8") == render_markdown(), (
        "docs/features.md is stale: run `.venv/bin/python -m stillwatch.features.registry > docs/features.md`"
    )


def test_registry_entries_are_complete_and_unique() -> None:
    seen = set()
    for f in registry():
        assert f.name and f.table in TABLE_KEYS and f.grain and f.window and f.description and f.version
        assert (f.table, f.name) not in seen
        seen.add((f.table, f.name))
    assert set(by_table()) == set(TABLE_KEYS)


def test_detector_features_are_registered() -> None:
    for name in (
        "n_sys_prompts", "n_first_msgs", "n_md_devices", "n_md_sessions", "n_langs", "n_scripts", "n_ua_families",
        "n_ips", "n_asns", "n_countries", "hosting_share", "xff_restricted_share", "relay_hits_one_api",
        "max_per_minute", "active_hours_per_day", "coverage_24_7", "best_utc_offset", "utc_offset_fit",
        "holiday_ratio_cn", "makeup_ratio_cn", "cot_share", "cap_code_share", "top_template_share", "n_templates",
        "bench_gsm8k_share", "max_tokens_pinned_share", "followup_share", "n_models", "input_tokens",
    ):  # fmt: skip
        assert describe("account_window", name) is not None, name
    assert describe("account_window", "no_such_feature") is None
