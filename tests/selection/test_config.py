"""The `select` section: each strategy's settings in its own sub-section; the flat keys of earlier versions load."""
from __future__ import annotations

import pytest

from sft_select.config.schema import build_config
from sft_select.core.errors import ConfigError
from sft_select.selection import config as select_config
from sft_select.selection.config import LEGACY_KEYS, SelectConfig


def test_flat_keys_of_earlier_versions_load_into_their_sub_section_with_a_note(monkeypatch):
    said = []
    monkeypatch.setattr(select_config, "info", said.append)
    monkeypatch.setattr(select_config, "_noted", set())
    old = {"strategy": "coverage", "group_trim": 0.1, "cover_mix": 0.2, "tau_div": 0.8, "active_C": 3.0,
           "coverage": {"order": "quality_label"}}
    cfg = build_config({"select": old}).select
    assert (cfg.coverage.trim, cfg.coverage.mix, cfg.coverage.order) == (0.1, 0.2, "quality_label")
    assert (cfg.greedy.tau_div, cfg.active.C) == (0.8, 3.0)
    assert len(said) == 4 and all("deprecated" in s and "\n" not in s for s in said)
    assert "select.coverage.trim" in " ".join(said)


def test_every_legacy_key_names_a_real_setting():
    cfg = SelectConfig()
    for key, (section, field) in LEGACY_KEYS.items():
        assert field in type(getattr(cfg, section)).model_fields, key
        assert key not in SelectConfig.model_fields


def test_a_flat_key_is_still_checked_and_unknown_keys_stay_errors():
    for bad in ({"group_trim": 1.5}, {"coverage": {"trim": 1.5}}, {"coverage": {"tau_div": 0.5}}, {"trimm": 0.1}):
        with pytest.raises(ConfigError):
            build_config({"select": bad})


def test_settings_by_dotted_path():
    cfg = SelectConfig(active={"skip": 0.1})
    out = cfg.with_settings({"coverage.trim": 0.0, "active.C": 2.0, "quota_by": "cluster"})
    assert (out.setting("coverage.trim"), out.setting("active.C"), out.setting("quota_by")) == (0.0, 2.0, "cluster")
    assert out.active.skip == 0.1 and cfg.coverage.trim == 0.3, "other values stay; the original is unchanged"
    assert SelectConfig.model_validate({"coverage.trim": 0.2}).coverage.trim == 0.2


def test_the_dump_round_trips():
    cfg = SelectConfig(strategy="greedy", greedy={"tau_div": 0.7, "scope": "cluster"}, coverage={"order": "x"})
    assert SelectConfig.model_validate(cfg.model_dump(mode="json")) == cfg
