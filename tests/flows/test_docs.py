"""docs/FLOWS.md stays true: its complete example flow passes `flows check`."""

from __future__ import annotations

import re
from pathlib import Path

from flows import check_text, compile_flow, load_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "FLOWS.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_short_complete_flow_checks_ok():
    first = yaml_blocks()[0]
    assert first.startswith("id: repair")
    assert check_text(first, "FLOWS.md") == []
    flow = load_text(first)
    assert len(flow.examples) == 2
    cf = compile_flow(flow)
    step = cf.answer(cf.start("en").state, "I want to sell it")
    assert step.outcome == "out"
    assert "example.com/sell" in cf.result(step.state).offer


def test_every_key_the_schema_knows_is_documented():
    from flows.schema import (
        Band,
        Cap,
        Closing,
        EngagementEvent,
        Example,
        Expect,
        FlowDef,
        Intent,
        KnockOut,
        Next,
        Option,
        Parameter,
        Question,
        ScoreRange,
        TextRule,
        Thresholds,
    )

    doc = DOC.read_text(encoding="utf-8")
    models = (Band, Cap, Closing, EngagementEvent, Example, Expect, FlowDef, Intent, KnockOut)
    models += (Next, Option, Parameter, Question, ScoreRange, TextRule, Thresholds)
    missing = sorted({key for model in models for key in model.model_fields if f"{key}" not in doc})
    assert missing == []
    for key in ("reask", "reask_number", "reask_timeline", "reask_yesno", "reask_multi"):
        assert key in doc


def test_doc_yaml_parses_with_both_yaml_readers():
    """libyaml accepts `{en: Why?, ru: ...}`, pure-Python PyYAML does not: keep to both."""
    import textwrap

    import pytest
    import yaml

    loaders = [yaml.SafeLoader]
    if hasattr(yaml, "CSafeLoader"):
        loaders.append(yaml.CSafeLoader)
    for block in yaml_blocks():
        for loader in loaders:
            try:
                yaml.load(textwrap.dedent(block), Loader=loader)
            except yaml.YAMLError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{loader.__name__}: {exc}\n{block[:200]}")


def test_builtin_flows_parse_with_both_yaml_readers():
    import yaml

    from flows import builtin_flow_paths

    for fid, path in builtin_flow_paths().items():
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.SafeLoader)["id"] == fid  # pure-Python reader
