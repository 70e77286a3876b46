"""`python -m bot card ...` and `python -m bot flows threshold|weight`, in-process in a
fresh folder: the same service as the admin chat, audited as "cli:<os user>"."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.services.card_template import builtin_source
from storage import repositories as repo
from storage.database import Database

GOOD = "🧲 <b>{{ d.name }}</b> {{ d.total }}/{{ d.max_total }}\n"


def audit(what_prefix: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    async def read() -> list[tuple[str, str, str | None, str | None, str | None]]:
        db = Database(os.environ["DATABASE_URL"])
        try:
            async with db.session() as s:
                rows = await repo.list_audit(s)
        finally:
            await db.dispose()
        return [
            (r.what, r.who, r.subject, r.from_value, r.to_value)
            for r in reversed(rows)
            if r.what.startswith(what_prefix)
        ]

    return asyncio.run(read())


def test_card_check_import_activate_show_list_reset(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = in_folder / "bad.html.j2"
    bad.write_text("{{ d.name }}\n\n<div>{{ d.total }}</div>\n", "utf-8")
    assert main(["card", "check", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"{bad}:3: Telegram has no tag <div> (it knows a, b, blockquote, code, del, i, pre, "
        "s, span, tg-emoji, tg-spoiler, u)"
    )
    assert main(["card", "import", str(bad)]) == 1
    assert ":3: Telegram has no tag <div>" in capsys.readouterr().err

    good = in_folder / "card.html.j2"
    good.write_text(GOOD, "utf-8")
    assert main(["card", "check", str(good), "--show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok {good}: the sample card has") and "🧲 <b>Anna Petrova</b>" in out

    assert main(["card", "import", "card.html.j2"]) == 0
    out = capsys.readouterr().out
    assert "card template: imported as v1" in out and "python -m bot card activate 1" in out
    assert main(["card", "show"]) == 0
    assert capsys.readouterr().out == builtin_source().rstrip("\n") + "\n"  # not live yet
    assert main(["card", "activate", "1"]) == 0
    assert "card template v1 is live" in capsys.readouterr().out
    assert main(["card", "show", "-o", "live.j2"]) == 0
    assert (in_folder / "live.j2").read_text("utf-8") == GOOD
    assert main(["card", "list"]) == 0
    out = capsys.readouterr().out
    assert "card template: live v1" in out and "* v1" in out and "cli:" in out
    assert main(["card", "activate", "5"]) == 1
    assert "no card template v5" in capsys.readouterr().err
    assert main(["card", "reset"]) == 0
    assert "the built-in card is live again (was v1)" in capsys.readouterr().out
    assert main(["card", "reset"]) == 0
    assert "live already" in capsys.readouterr().out
    assert main(["card", "vars"]) == 0
    assert "d.params" in capsys.readouterr().out

    trail = audit("card.")
    assert [(w, f, t) for w, _, _, f, t in trail] == [
        ("card.import", None, "v1"),
        ("card.activate", "built-in", "v1"),
        ("card.reset", "v1", "built-in"),
    ]
    assert all(who.startswith("cli:") for _, who, _, _, _ in trail)


def test_flows_threshold_and_weight_make_new_versions(
    in_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flows", "threshold", "bant", "hot", "85"]) == 0
    assert "bant: v1 is live: hot: 80% → 85%" in capsys.readouterr().out
    assert main(["flows", "weight", "bant", "budget", "30"]) == 0
    assert "bant: v2 is live: budget: max 25 → 30" in capsys.readouterr().out
    assert main(["flows", "download", "bant"]) == 0
    text = capsys.readouterr().out
    assert "hot: 85" in text
    assert main(["flows", "list"]) == 0
    assert "live v2" in capsys.readouterr().out

    assert main(["flows", "weight", "bant", "nope", "3"]) == 1
    assert "has no parameter 'nope'" in capsys.readouterr().err
    assert main(["flows", "threshold", "bant", "warm", "0"]) == 1
    assert "above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["flows", "threshold", "bant", "lukewarm", "50"])
    capsys.readouterr()

    trail = audit("flow.")
    whats = [w for w, *_ in trail]
    assert whats == [
        "flow.import",
        "flow.activate",
        "flow.threshold",
        "flow.import",
        "flow.activate",
        "flow.weight",
    ]
    assert all(who.startswith("cli:") for _, who, *_ in trail)
    threshold = trail[2]
    assert threshold[2:] == ("bant", "threshold hot: 80%", "85% (v1)")
