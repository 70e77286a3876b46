"""`python -m bot flows ...`, `stats` and `export`, in-process in a fresh folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.__main__ import main
from flows.loader import builtin_flow_paths

BANT = builtin_flow_paths()["bant"].read_text(encoding="utf-8")


def flows(*args: str) -> int:
    return main(["flows", *args])


def test_check_builtins_and_a_broken_file(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flows("check") == 0
    assert "ok " in capsys.readouterr().out
    bad = in_folder / "bad.yaml"
    text = BANT.replace("framework: BANT", "framework: BANT\nfavourite: blue")
    bad.write_text(text, "utf-8")
    assert flows("check", str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    line = text.splitlines().index("favourite: blue") + 1
    assert err[0] == f"{bad}:{line}: unknown key 'favourite'"


def test_import_a_broken_file_leaves_the_live_flow(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = in_folder / "broken.yaml"
    text = BANT.replace("      total: 95\n", "      total: 99\n", 1)
    broken.write_text(text, "utf-8")
    assert flows("import", "broken.yaml", "--activate") == 1
    err = capsys.readouterr().err.splitlines()
    line = text.splitlines().index("      total: 99") + 1
    assert err[0].startswith(
        f"broken.yaml:{line}: example 'founder, price fine, rollout in 2 weeks'"
    )
    assert "expected total 99, got 95" in err[0]
    assert flows("list") == 0
    out = capsys.readouterr().out
    assert "bant (built-in file): live built-in" in out and " v1 " not in out


def test_import_activate_list_rollback_download(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = in_folder / "bant75.yaml"
    good.write_text(BANT.replace("{hot: 80, warm: 40}", "{hot: 75, warm: 40}"), "utf-8")
    assert flows("import", str(good)) == 0
    out = capsys.readouterr().out
    assert "bant: imported as v1" in out and "~ threshold hot: 80% → 75%" in out
    assert "python -m bot flows activate bant 1" in out
    assert flows("activate", "bant", "1") == 0
    assert "v1 is live" in capsys.readouterr().out
    assert flows("list") == 0
    out = capsys.readouterr().out
    assert "bant (built-in file): live v1" in out and "* v1" in out and "cli:" in out
    assert flows("download", "bant", "1", "-o", "copy.yaml") == 0
    assert (in_folder / "copy.yaml").read_text("utf-8") == good.read_text("utf-8")
    assert flows("activate", "bant", "7") == 1
    assert "no version 7" in capsys.readouterr().err
    assert flows("rollback", "bant") == 0
    assert "the built-in file is live again" in capsys.readouterr().out
    assert flows("rollback", "bant") == 1
    assert flows("download", "bant") == 0
    assert capsys.readouterr().out.startswith("# BANT")


def test_graph_writes_a_drawing(in_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flows("graph", "bant", "-o", "bant.mmd") == 0
    assert (in_folder / "bant.mmd").read_text("utf-8").startswith(("flowchart", "graph", "%%"))
    assert flows("graph", "nope", "-o", "x.mmd") == 1


def test_stats_and_export_after_a_console_interview(
    in_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from tests.console.conftest import FOUNDER_LINES

    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(FOUNDER_LINES) + "\n"))
    assert main(["chat", "--flow", "bant"]) == 0
    capsys.readouterr()
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "bant v1: started 1, finished 1 (100%)" in out and "hot 1" in out
    assert main(["export", "-o", "leads.csv"]) == 0
    with open(in_folder / "leads.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert (rows[0]["tier"], rows[0]["points_need"], rows[0]["email"]) == (
        "hot",
        "20",
        "anna@acme.com",
    )
