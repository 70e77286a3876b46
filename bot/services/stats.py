"""StatsService: funnel numbers per flow version, and leads as CSV.

Numbers come from the interview rows (status, state, tier, stage, scores,
times), their answers and handoffs; per-parameter points are re-scored with
the interview's own flow version, so they match what the card showed.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from bot.services.base import Service
from bot.services.flow_registry import UnknownFlowError
from bot.services.records import state_from_record
from storage import repositories as repo
from storage.tables import Interview, Lead

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.engine import CompiledFlow

TIERS = ("hot", "warm", "cold", "disqualified")
ENDED_WELL = ("finished", "out")


@dataclass
class SourceStats:
    started: int = 0
    finished: int = 0
    hot: int = 0


@dataclass
class VersionStats:
    flow_id: str
    version: int | None
    digest: str
    started: int = 0
    finished: int = 0  # finished or knocked out: the interview reached an outcome
    # Where unfinished interviews stand (cancelled, or still going): question → count.
    stopped_at: Counter[str] = field(default_factory=Counter)
    stopped_at_parameter: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    median_finish_seconds: float | None = None
    median_take_seconds: float | None = None  # hot card created → taken by sales
    sources: dict[str, SourceStats] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return (
            f"{self.flow_id} v{self.version}"
            if self.version
            else f"{self.flow_id} {self.digest[:8]}"
        )

    @property
    def completion(self) -> float:
        return round(100 * self.finished / self.started, 1) if self.started else 0.0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_stats(stats: list[VersionStats], days: int) -> str:
    """A short plain-text report (the CLI, and the admin chat)."""
    if not stats:
        return f"No interviews in the last {days} days."
    lines: list[str] = [f"Last {days} days"]
    for s in stats:
        lines.append("")
        lines.append(
            f"{s.label}: started {s.started}, finished {s.finished} ({s.completion:g}%), "
            f"median time to finish {_duration(s.median_finish_seconds)}"
        )
        tiers = ", ".join(f"{tier} {s.tiers[tier]}" for tier in TIERS if s.tiers[tier])
        lines.append(f"  tiers: {tiers or '—'}")
        if s.stopped_at:
            top = ", ".join(f"{q} {n}" for q, n in s.stopped_at.most_common(5))
            lines.append(f"  stopped at: {top}")
            by_param = ", ".join(f"{p} {n}" for p, n in s.stopped_at_parameter.most_common())
            if by_param:
                lines.append(f"  stopped at parameter: {by_param}")
        if s.median_take_seconds is not None:
            lines.append(
                f"  hot lead taken by sales in (median): {_duration(s.median_take_seconds)}"
            )
        for source, src in sorted(s.sources.items(), key=lambda kv: -kv[1].started):
            lines.append(
                f"  source {source}: started {src.started}, finished {src.finished}, hot {src.hot}"
            )
    return "\n".join(lines)


# Spreadsheet programs run a cell that starts with = + - @ as a formula; prospects
# type names and answers, so such cells get a leading apostrophe. A phone number
# like +44 20 ... is left alone.
_FORMULA = re.compile(r"^[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"^[+\-]?[\d\s().]+$")


def _cell(value: object) -> object:
    if isinstance(value, str) and _FORMULA.match(value) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


class StatsService(Service):
    async def _compiled(self, session: AsyncSession, iv: Interview) -> CompiledFlow | None:
        try:
            return await self.registry.for_interview(
                iv.flow_id, iv.digest, iv.flow_version_id, session
            )
        except UnknownFlowError:
            return None

    async def funnel(self, flow_id: str | None = None, days: int = 30) -> list[VersionStats]:
        """Per flow version, interviews started in the last `days` days."""
        since = self.clock() - timedelta(days=days)
        async with self.db.session() as session:
            interviews = await repo.list_interviews(session, flow_id=flow_id, since=since)
            versions = {v.id: v.version for v in await repo.list_flow_versions(session, flow_id)}
            out: dict[tuple[str, str], VersionStats] = {}
            finish: dict[tuple[str, str], list[float]] = {}
            take: dict[tuple[str, str], list[float]] = {}
            for iv in interviews:
                key = (iv.flow_id, iv.digest)
                s = out.get(key)
                if s is None:
                    s = out[key] = VersionStats(
                        iv.flow_id, versions.get(iv.flow_version_id), iv.digest
                    )
                s.started += 1
                src = s.sources.setdefault(iv.source or "—", SourceStats())
                src.started += 1
                if iv.status in ENDED_WELL:
                    s.finished += 1
                    src.finished += 1
                    if iv.finished_at is not None:
                        finish.setdefault(key, []).append(
                            (iv.finished_at - iv.started_at).total_seconds()
                        )
                elif iv.state not in ("done", "out"):
                    s.stopped_at[iv.state] += 1
                    compiled = await self._compiled(session, iv)
                    qp = compiled.program.questions.get(iv.state) if compiled else None
                    s.stopped_at_parameter[(qp.parameter if qp else None) or "contact"] += 1
                if iv.tier:
                    s.tiers[iv.tier] += 1
                    if iv.tier == "hot":
                        src.hot += 1
                        for h in await repo.list_handoffs(session, interview_id=iv.id):
                            if h.taken_at is not None:
                                take.setdefault(key, []).append(
                                    (h.taken_at - h.created_at).total_seconds()
                                )
            for key, s in out.items():
                if finish.get(key):
                    s.median_finish_seconds = statistics.median(finish[key])
                if take.get(key):
                    s.median_take_seconds = statistics.median(take[key])
            return sorted(out.values(), key=lambda s: (s.flow_id, s.version or 0, s.digest))

    async def export_csv(self, out: TextIO) -> int:
        """Leads as CSV, one row per lead: its last interview with an outcome (else its
        last one). Returns the number of rows."""
        async with self.db.session() as session:
            leads = await repo.list_leads(session)
            versions = {v.id: v.version for v in await repo.list_flow_versions(session)}
            rows: list[dict[str, object]] = []
            params: list[str] = []
            for lead in leads:
                row = await self._lead_row(session, lead, versions, params)
                if row is not None:
                    rows.append(row)
        fixed = [
            "lead_id", "telegram_id", "username", "first_name", "last_name", "phone", "email",
            "company", "source", "flow", "flow_version", "interview_id", "status", "tier",
            "stage", "framework_score", "max_score", "percent", "fit_score", "engagement_score",
            "started_at", "finished_at",
        ]  # fmt: skip
        writer = csv.DictWriter(
            out, fieldnames=fixed + [f"points_{p}" for p in params], extrasaction="ignore"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return len(rows)

    async def _lead_row(
        self,
        session: AsyncSession,
        lead: Lead,
        versions: dict[int | None, int],
        params: list[str],
    ) -> dict[str, object] | None:
        interviews = await repo.list_interviews(session, lead_id=lead.id)
        if not interviews:
            return None
        ended = [iv for iv in interviews if iv.status in ENDED_WELL]
        iv = (ended or interviews)[-1]
        row: dict[str, object] = {
            "lead_id": lead.id,
            "telegram_id": lead.telegram_id,
            "username": lead.username,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "phone": lead.phone,
            "email": lead.email,
            "company": lead.company,
            "source": iv.source or lead.source,
            "flow": iv.flow_id,
            "flow_version": versions.get(iv.flow_version_id),
            "interview_id": iv.id,
            "status": iv.status,
            "tier": iv.tier,
            "stage": iv.stage,
            "framework_score": iv.framework_score,
            "max_score": iv.max_score,
            "percent": iv.percent,
            "fit_score": iv.fit_score,
            "engagement_score": iv.engagement_score,
            "started_at": _iso(iv.started_at),
            "finished_at": _iso(iv.finished_at),
        }
        compiled = await self._compiled(session, iv)
        record = await repo.get_interview(session, iv.id or 0)
        if compiled is not None and record is not None:
            result = compiled.result(state_from_record(record, lead))
            for p in result.parameters:
                if p.id not in params:
                    params.append(p.id)
                row[f"points_{p.id}"] = p.points
        return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
