"""docs/reference.md and docs/reference.zh.md: generated from the scenario schema, never drifting from it."""

from __future__ import annotations

import re

import pytest

from policetwin.scenarios import reference
from policetwin.scenarios.schema import Scenario

CJK = re.compile(r"[\u4e00-\u9fff]")
REGENERATE = "regenerate with: .venv/bin/python -m policetwin.scenarios.reference"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_committed_reference_equals_a_fresh_generation(lang: str) -> None:
    committed = (reference.DOCS / reference.FILES[lang]).read_text(encoding="utf-8")
    assert committed == reference.render(lang), f"docs/{reference.FILES[lang]} is stale: {REGENERATE}"


def test_every_key_has_an_english_and_a_chinese_description() -> None:
    keys = reference.schema_keys()
    assert len(keys) > 150 and ("Scenario", "duration") in keys and ("Gate", "lanes") in keys
    missing = [f"{m}.{k}" for m, k in keys if not reference.describe(m, k, "en")]
    missing += [f"{m}.{k} (zh)" for m, k in keys if not reference.describe(m, k, "zh")]
    assert not missing, f"add descriptions to reference.CATALOGUE: {missing}"
    for model, key in keys:
        en, zh = reference.describe(model, key, "en"), reference.describe(model, key, "zh")
        assert zh != en and CJK.search(zh), f"{model}.{key}: the Chinese text is not Chinese: {zh!r}"
    models = [m.__name__ for m, _ in reference.iter_models()]
    assert all(
        reference.describe(m, "", "en") and CJK.search(reference.describe(m, "", "zh")) for m in models
    )
    stale = sorted(set(reference.CATALOGUE) - {f"{m}.{k}" for m, k in keys} - {f"{m}." for m in models}
                   - {"*.lon", "*.lat"})  # fmt: skip
    assert not stale, f"descriptions of keys the schema no longer has: {stale}"


def test_every_key_appears_with_type_default_and_unit() -> None:
    text = reference.render("en")
    for model, paths in reference.iter_models():
        section = text.split(
            f"## `{paths[0] if model is not Scenario else 'scenario'}` — {model.__name__}\n"
        )[1]
        section = section.split("\n## ")[0]
        for key in model.model_fields:
            assert re.search(rf"^\| `{key}` \| .+ \|$", section, re.M), f"{model.__name__}.{key} missing"
    assert "| `duration` | duration | required | s | > 0, ≤ 315,360,000 |" in text
    assert "| `rate_per_hour` | number | required | 1/h |" in text
    assert "`exponential`, `lognormal`, `fixed`" in text
    zh = reference.render("zh")
    assert "| 键 | 类型 | 默认值 | 单位 | 取值范围 | 说明 |" in zh and "必填" in zh


def test_check_mode_reports_fresh_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main(["--check"]) == 0
    assert '"stale": []' in capsys.readouterr().out
