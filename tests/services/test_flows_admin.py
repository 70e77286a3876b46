"""FlowRegistry and AdminService: deep links, versions, live chats keep theirs, audit."""

from __future__ import annotations

import pytest

from bot.services.admin import AdminError, AdminService, diff_flows
from bot.services.clock import ManualClock
from bot.services.interview import InterviewService
from flows.loader import builtin_flow_paths, load_text
from flows.schema import FlowError
from storage import repositories as repo
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import ADMIN, SALES, prospect
from tests.services.helpers import interviews

BANT = builtin_flow_paths()["bant"].read_text(encoding="utf-8")
HOT_75 = BANT.replace("thresholds: {hot: 80, warm: 40}", "thresholds: {hot: 75, warm: 40}")
REWORDED = HOT_75.replace(
    "en: What would you like to fix or improve first?",
    "en: What should we fix first?",
)


@pytest.fixture
def admin(service: InterviewService, clock: ManualClock) -> AdminService:
    return AdminService(service.db, service.registry, clock=clock)


async def test_deep_links(service: InterviewService, admin: AdminService) -> None:
    reg = service.registry
    assert (await reg.resolve("champ-webinar")).flow_id == "champ"
    assert (await reg.resolve("champ-webinar")).source == "webinar"
    assert (await reg.resolve("gpctba")).source is None
    unknown = await reg.resolve("spring_promo")
    assert (unknown.flow_id, unknown.source) == ("bant", "spring_promo")
    assert (await reg.resolve(None)).flow_id == "bant"
    await admin.set_deep_link("spring_promo", "anum", "instagram", actor=ADMIN)
    mapped = await reg.resolve("spring_promo")
    assert (mapped.flow_id, mapped.source) == ("anum", "instagram")
    await admin.set_default_flow("gpctba", actor=ADMIN)
    assert (await reg.resolve("whatever")).flow_id == "gpctba"
    with pytest.raises(AdminError):
        await admin.set_default_flow("nope", actor=ADMIN)
    with pytest.raises(AdminError):
        await admin.set_deep_link("bad payload!", "bant", None, actor=ADMIN)
    with pytest.raises(AdminError):
        await admin.set_default_flow("bant", actor=SALES)


async def test_import_refuses_a_bad_file_and_keeps_the_live_flow(
    service: InterviewService, admin: AdminService, database: Database
) -> None:
    broken = BANT.replace("    kind: timeline\n", "    kind: timeline\n    colour: red\n", 1)
    with pytest.raises(FlowError) as err:
        await admin.import_flow(broken, filename="bant.yaml", actor=ADMIN, activate=True)
    line = broken.splitlines().index("    colour: red") + 1
    assert str(err.value).startswith(f"bant.yaml:{line}: ")
    failing = BANT.replace("      total: 95\n", "      total: 96\n", 1)
    with pytest.raises(FlowError) as err:
        await admin.import_flow(failing, filename="bant.yaml", actor=ADMIN)
    assert "expected total 96, got 95" in str(err.value)
    async with database.session() as s:
        assert await repo.list_flow_versions(s) == []
    assert (await service.registry.active("bant")).builtin


async def test_versions_activate_rollback_and_audit(
    service: InterviewService, admin: AdminService, database: Database
) -> None:
    imported = await admin.import_flow(HOT_75, filename="bant.yaml", actor=ADMIN)
    assert imported.version.version == 1 and not imported.version.active
    assert imported.preview.diff.thresholds == ["hot: 80% → 75%"]
    assert all(line.startswith("ok") for line in imported.preview.examples)
    same = await admin.import_flow(HOT_75, filename="bant.yaml", actor=ADMIN)
    assert same.duplicate and same.version.version == 1
    second = await admin.import_flow(REWORDED, filename="b2.yaml", actor=ADMIN, activate=True)
    assert second.activated and second.version.version == 2
    assert second.preview.diff.reworded == ["need"]
    assert (await service.registry.active("bant")).version == 2
    await admin.activate("bant", 1, actor=ADMIN)
    assert (await service.registry.active("bant")).version == 1
    with pytest.raises(AdminError, match="no version 9"):
        await admin.activate("bant", 9, actor=ADMIN)
    await admin.activate("bant", 2, actor=ADMIN)
    back = await admin.rollback("bant", actor=ADMIN)
    assert back is not None and back.version == 1
    assert await admin.rollback("bant", actor=ADMIN) is None  # the built-in file again
    assert (await service.registry.active("bant")).builtin
    with pytest.raises(AdminError):
        await admin.rollback("bant", actor=ADMIN)
    name, text = await admin.download("bant", 2)
    assert name == "bant-v2.yaml" and text == REWORDED
    assert (await admin.download("bant"))[1] == BANT
    async with database.session() as s:
        audit = list(reversed(await repo.list_audit(s, subject="bant")))
    assert [(a.what, a.from_value, a.to_value) for a in audit] == [
        ("flow.import", None, "v1"),
        ("flow.import", None, "v2"),
        ("flow.activate", "built-in", "v2"),
        ("flow.activate", "v2", "v1"),
        ("flow.activate", "v1", "v2"),
        ("flow.rollback", "v2", "v1"),
        ("flow.rollback", "v1", "built-in"),
    ]
    assert {a.who for a in audit} == {"Admin"}
    listed = {f.flow_id: f for f in await admin.list_flows()}
    assert listed["bant"].live == "built-in" and len(listed["bant"].versions) == 2
    assert listed["champ"].has_builtin


async def test_a_live_chat_keeps_its_version_across_a_swap(
    service: InterviewService, admin: AdminService, database: Database
) -> None:
    old = prospect(1001)
    await service.start(old)
    await service.text(old, FOUNDER[0])
    await admin.import_flow(REWORDED, filename="b.yaml", actor=ADMIN, activate=True)
    new = prospect(2002)
    started = await service.start(new)
    await service.text(new, FOUNDER[0])
    reply = await service.text(new, FOUNDER[1])
    assert "What should we fix first?" in reply.messages[-1].text
    reply = await service.text(old, FOUNDER[1])
    assert "What would you like to fix or improve first?" in reply.messages[-1].text
    for text in FOUNDER[2:]:
        reply = await service.text(old, text)
    assert reply.finished and reply.result is not None and reply.result.total == 95
    [iv_old] = await interviews(database, 1001)
    [iv_new] = await interviews(database, 2002)
    assert iv_old.digest != iv_new.digest
    async with database.session() as s:
        v_old = await repo.get_flow_version(s, iv_old.flow_version_id)
        v_new = await repo.get_flow_version(s, iv_new.flow_version_id)
    assert v_old is not None and v_old.created_by == "builtin" and not v_old.active
    assert v_new is not None and v_new.active and started.messages


def test_diff_in_words() -> None:
    a = load_text(BANT, "a.yaml")
    b = load_text(
        REWORDED.replace("        points: 25\n", "        points: 20\n", 1).replace(
            "  - id: company\n", "  - id: firm\n", 1
        ),
        "b.yaml",
    )
    diff = diff_flows(a, b)
    assert diff.added == ["firm"] and diff.removed == ["company"]
    assert "need" in diff.reworded
    assert diff.weights == ["budget/ready: 25 → 20"]
    assert diff.thresholds == ["hot: 80% → 75%"]
    assert diff_flows(None, a).lines() == ["a new flow (no live version to compare with)"]
