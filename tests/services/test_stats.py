"""StatsService: funnel numbers and the CSV match the interviews that ran."""

from __future__ import annotations

import csv
import io

from bot.services.clock import ManualClock
from bot.services.handoff import HandoffService
from bot.services.interview import InterviewService
from bot.services.stats import StatsService, format_stats
from storage.database import Database
from tests.answers import FOUNDER
from tests.services.conftest import SALES, prospect
from tests.services.helpers import queued


async def test_funnel_and_export(
    service: InterviewService, handoff: HandoffService, database: Database, clock: ManualClock
) -> None:
    hot = prospect(1, first_name="=HYPERLINK(1)")
    await service.start(hot, "bant-webinar")
    for text in FOUNDER:
        clock.advance(seconds=10)
        await service.text(hot, text)
    [card] = await queued(database, "card")
    clock.advance(minutes=4)
    await handoff.press(SALES, f"h:{card.payload['handoff_id']}:take")
    stopped = prospect(2)
    await service.start(stopped, "bant-ads")
    await service.text(stopped, FOUNDER[0])  # stops at "role"
    gone = prospect(3)
    await service.start(gone, "champ")
    await service.cancel(gone)

    stats = StatsService(database, service.registry, clock=clock)
    report = await stats.funnel(days=7)
    by_flow = {s.flow_id: s for s in report}
    bant = by_flow["bant"]
    assert (bant.started, bant.finished, bant.completion) == (2, 1, 50.0)
    assert bant.tiers["hot"] == 1
    assert bant.stopped_at == {"role": 1}
    assert bant.stopped_at_parameter == {"authority": 1}
    assert bant.median_finish_seconds == 110
    assert bant.median_take_seconds == 240
    assert bant.sources["webinar"].hot == 1 and bant.sources["ads"].finished == 0
    assert by_flow["champ"].started == 1 and by_flow["champ"].finished == 0
    assert [s.flow_id for s in await stats.funnel("champ", 7)] == ["champ"]
    text = format_stats(report, 7)
    assert "bant v1: started 2, finished 1 (50%)" in text and "source webinar" in text
    assert format_stats([], 7) == "No interviews in the last 7 days."

    out = io.StringIO()
    assert await stats.export_csv(out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    first = rows[0]
    assert first["first_name"] == "'=HYPERLINK(1)"  # no formula in a spreadsheet
    assert (first["tier"], first["stage"], first["framework_score"]) == ("hot", "SAL", "95")
    assert (first["points_budget"], first["points_need"]) == ("25", "20")
    assert first["phone"] == "+442079460958" and first["flow_version"] == "1"
    assert first["source"] == "webinar"
    assert rows[1]["status"] == "active" and rows[2]["status"] == "cancelled"
