"""AdminService: thresholds and weights make new versions; default flow, deep links;
everything audited."""

from __future__ import annotations

import pytest

from bot.services.admin import AdminError, AdminService
from bot.services.flow_registry import FlowRegistry
from storage import repositories as repo
from storage.database import Database
from tests.services.conftest import ADMIN, STRANGER


@pytest.fixture
def admin(database: Database, config, clock, builtin_paths) -> AdminService:
    registry = FlowRegistry(database, config=config, clock=clock, builtin_paths=builtin_paths)
    return AdminService(database, registry, clock=clock)


async def audit(db: Database) -> list:
    async with db.session() as s:
        return list(await repo.list_audit(s))


async def test_threshold_makes_a_new_live_version_and_keeps_comments(
    admin: AdminService, database: Database
) -> None:
    result = await admin.change_threshold("bant", "hot", 85, actor=ADMIN)
    assert result.activated and result.version.version >= 1
    assert result.preview.flow.thresholds.hot == 85
    assert result.preview.diff.thresholds == ["hot: 80% → 85%"]
    _, text = await admin.download("bant")
    assert "hot: 85" in text and "#" in text  # patched in place, comments kept
    live = await admin.registry.active("bant")
    assert live.compiled.flow.thresholds.hot == 85
    rows = await audit(database)
    whats = [r.what for r in rows]
    assert "flow.threshold" in whats and "flow.activate" in whats
    row = next(r for r in rows if r.what == "flow.threshold")
    assert row.who == "Admin" and "80%" in (row.from_value or "")
    assert "85%" in (row.to_value or "")


async def test_weight_changes_parameter_max_and_option_points(admin: AdminService) -> None:
    result = await admin.change_weight("multi", "need", 20, actor=ADMIN)
    assert result.activated and result.preview.flow.parameters[0].max == 20
    assert result.preview.diff.weights == ["need: max 10 → 20, min 0 → 0"]
    changed = await admin.change_weight("multi", "tools.crm", 8, actor=ADMIN)
    assert changed.preview.flow.questions[0].options[0].points == 8
    assert changed.version.version == result.version.version + 1


async def test_a_weight_that_breaks_an_example_is_refused(admin: AdminService) -> None:
    with pytest.raises(AdminError, match="example"):
        await admin.change_weight("bant", "budget.ready", 24, actor=ADMIN)
    assert (await admin.registry.active("bant")).builtin


async def test_refusals(admin: AdminService, database: Database) -> None:
    with pytest.raises(AdminError):
        await admin.change_threshold("bant", "hot", 90, actor=STRANGER)
    with pytest.raises(AdminError):
        await admin.change_threshold("bant", "lukewarm", 90, actor=ADMIN)
    with pytest.raises(AdminError):
        await admin.change_threshold("bant", "warm", 95, actor=ADMIN)  # warm above hot
    with pytest.raises(AdminError):
        await admin.change_weight("bant", "nope", 5, actor=ADMIN)
    assert (await admin.registry.active("bant")).builtin  # nothing changed
    assert not [r for r in await audit(database) if r.what.startswith("flow.")]


async def test_default_flow_and_deep_links_are_audited(admin: AdminService, database) -> None:
    await admin.set_default_flow("champ", actor=ADMIN)
    assert await admin.registry.default_flow() == "champ"
    await admin.set_deep_link("promo", "anum", "fb", actor=ADMIN)
    assert await admin.list_deep_links() == [("promo", "anum", "fb")]
    target = await admin.registry.resolve("promo")
    assert (target.flow_id, target.source) == ("anum", "fb")
    rows = await audit(database)
    assert sorted((r.what, r.to_value) for r in rows) == [
        ("deep_link.set", "anum/fb"),
        ("flow.default", "champ"),
    ]


def test_funnel_chart_is_a_png() -> None:
    from collections import Counter

    from bot.services.charts import funnel_png
    from bot.services.stats import VersionStats

    stats = [VersionStats("bant", 1, "abc", started=10, finished=6, tiers=Counter(hot=2, warm=3))]
    png = funnel_png(stats, "Funnel, 30 days")
    assert png.startswith(b"\x89PNG") and len(png) > 500
