"""`flows check` output and exit code; `flows graph` drawings."""

from __future__ import annotations

import io

import pytest

from flows import builtin_flow_paths, load_builtin, load_text
from flows.check import main as check_main
from flows.graph import draw, have_dot, to_dot, to_mermaid

from .conftest import small_flow


def run_check(*paths):
    out, err = io.StringIO(), io.StringIO()
    code = check_main(list(paths), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_check_builtins_ok():
    code, out, err = run_check()
    assert code == 0, err
    assert err == ""
    for fid in builtin_flow_paths():
        assert f": {fid} (" in out


def test_check_reports_file_line_reason_and_exit_1(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(small_flow(), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(small_flow(("        points: 10\n", "        points: 99\n")), encoding="utf-8")
    code, out, err = run_check(good, bad)
    assert code == 1
    assert f"ok {good}" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1
    file, line, reason = lines[0].split(":", 2)
    assert file == str(bad)
    assert int(line) == small_flow().splitlines().index("        points: 10") + 1
    assert "outside the range" in reason


def test_check_runs_examples(tmp_path):
    path = tmp_path / "ex.yaml"
    path.write_text(
        small_flow(
            append="""\
            examples:
              - name: hot one
                lang: en
                answers: {budget: "1", need: "we need a crm"}
                expect: {tier: warm}
            """
        ),
        encoding="utf-8",
    )
    code, _, err = run_check(path)
    assert code == 1
    assert "example 'hot one': expected tier warm, got hot" in err


def test_check_missing_file():
    code, _, err = run_check("/no/such/flow.yaml")
    assert code == 1 and "cannot read" in err


def test_mermaid_shows_questions_branches_and_knockouts(bant):
    text = to_mermaid(bant.flow)
    assert text.startswith("flowchart TD")
    for q in bant.flow.questions:
        assert f"  {q.id}[" in text
    assert "budget -->|budget in exploring, none| cost_of_problem" in text
    assert "industry -.->|knock-out: not_a_business| out" in text
    assert "skipped if role = decider" in text
    assert "email --> done" in text


def test_mermaid_in_russian(gpctba):
    assert "Какую цель" in to_mermaid(gpctba.flow, "ru")


def test_dot_text(bant):
    text = to_dot(bant.flow)
    assert text.startswith('digraph "bant" {')
    assert '"timing" -> "timing_blocker" [label="timing > 183"];' in text
    assert text.rstrip().endswith("}")


def test_draw_by_suffix(tmp_path, bant):
    out = draw(bant.flow, tmp_path / "bant.mmd")
    assert out.format == "mermaid" and out.path.read_text().startswith("flowchart")
    out = draw(bant.flow, tmp_path / "bant.dot")
    assert out.format == "dot" and "digraph" in out.path.read_text()
    out = draw(bant.flow, tmp_path / "bant.svg")
    if have_dot():
        assert out.format == "svg" and out.path.read_text().lstrip().startswith(("<?xml", "<svg"))
    else:
        assert out.format == "mermaid" and out.path.suffix == ".mmd"
        assert "Graphviz" in out.note


@pytest.mark.parametrize("fid", sorted(builtin_flow_paths()))
def test_every_builtin_draws(fid):
    flow = load_builtin(fid)
    assert to_mermaid(flow).count("-->") >= len(flow.questions)


def test_graph_escapes_quotes():
    flow = load_text(small_flow(('{en: "Is there a budget?"', '{en: "Is there a \\"budget\\"?"')))
    assert "#quot;budget#quot;" in to_mermaid(flow)
    assert '\\"budget\\"' in to_dot(flow)
