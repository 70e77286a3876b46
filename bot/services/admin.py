"""AdminService: flow versions for marketing people, from the CLI or a chat.

- import: the file is validated and its examples run; a bad file is refused
  with `file:line: reason` and nothing is stored, so the live flow stays as it
  was. A good one becomes the next version (activated at once if asked), with
  a diff against the live version: questions added, removed, reworded; weights
  and thresholds moved.
- activate / rollback / download any version.
- Every change is written to the audit table: who, when, what, from, to.

Shared by `python -m bot flows ...` and the Telegram admin router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.services.base import Service
from bot.services.flow_registry import BUILTIN_AUTHOR, DEFAULT_FLOW_SETTING
from bot.services.types import Actor
from storage import repositories as repo
from storage.tables import CardTemplate, FlowVersion

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.engine import CompiledFlow
    from flows.schema import FlowDef


class AdminError(Exception):
    """A refusal worded for the person who asked (unknown flow, no such version...)."""


@dataclass(frozen=True)
class VersionInfo:
    flow_id: str
    version: int
    digest: str
    active: bool
    created_by: str | None
    created_at: datetime

    @property
    def builtin(self) -> bool:
        return self.created_by == BUILTIN_AUTHOR

    @classmethod
    def of(cls, row: FlowVersion) -> VersionInfo:
        return cls(row.flow_id, row.version, row.digest, row.active, row.created_by, row.created_at)


@dataclass(frozen=True)
class FlowInfo:
    flow_id: str
    has_builtin: bool  # a built-in file ships with the code
    live: str  # "v3", or "built-in" when no stored version is active
    versions: tuple[VersionInfo, ...]


@dataclass
class FlowDiff:
    """What a new version changes against the live one, in words."""

    new_flow: bool = False
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reworded: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    thresholds: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.new_flow
            or self.added
            or self.removed
            or self.reworded
            or self.weights
            or self.thresholds
        )

    def lines(self) -> list[str]:
        if self.new_flow:
            return ["a new flow (no live version to compare with)"]
        out: list[str] = []
        out += [f"+ question {q}" for q in self.added]
        out += [f"- question {q}" for q in self.removed]
        out += [f"~ reworded {q}" for q in self.reworded]
        out += [f"~ weight {w}" for w in self.weights]
        out += [f"~ threshold {t}" for t in self.thresholds]
        return out or ["no changes in questions, weights or thresholds"]


@dataclass
class Preview:
    """A validated flow file, before it is stored."""

    flow: FlowDef
    compiled: CompiledFlow
    diff: FlowDiff
    examples: list[str]  # one line per example: its name and result
    parameters: list[tuple[str, int, int]]  # (name, min, max)
    thresholds: tuple[float, float]  # (hot, warm) percent

    @property
    def flow_id(self) -> str:
        return self.flow.id


@dataclass(frozen=True)
class CardVersion:
    version: int
    digest: str
    active: bool
    filename: str | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: CardTemplate) -> CardVersion:
        return cls(
            row.version, row.digest, row.active, row.filename, row.created_by, row.created_at
        )


@dataclass(frozen=True)
class CardImport:
    version: CardVersion
    sample_html: str  # the sample lead's card rendered with it (the preview)
    duplicate: bool  # the same text was already stored as this version
    activated: bool


@dataclass
class ImportResult:
    preview: Preview
    version: VersionInfo
    activated: bool
    duplicate: bool  # the same text was already stored as this version


def cli_actor() -> Actor:
    """Who runs the command line: the OS user, an admin by definition."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return Actor(user_id=None, name=f"cli:{user}", is_admin=True)


def diff_flows(old: FlowDef | None, new: FlowDef) -> FlowDiff:
    """Questions added/removed/reworded, weights (parameter ranges, option and
    band points) and thresholds moved."""
    if old is None:
        return FlowDiff(new_flow=True)
    diff = FlowDiff()
    before = {q.id: q for q in old.questions}
    after = {q.id: q for q in new.questions}
    diff.added = [q for q in after if q not in before]
    diff.removed = [q for q in before if q not in after]
    for qid, q in after.items():
        prev = before.get(qid)
        if prev is None:
            continue
        if dict(prev.text) != dict(q.text) or prev.kind != q.kind:
            diff.reworded.append(qid)
        old_points = {o.id: o.points for o in prev.options}
        for o in q.options:
            if o.id in old_points and old_points[o.id] != o.points:
                diff.weights.append(f"{qid}/{o.id}: {old_points[o.id]} → {o.points}")
        old_bands = [b.points for b in (*prev.ranges, *prev.bands)]
        new_bands = [b.points for b in (*q.ranges, *q.bands)]
        if old_bands and new_bands and old_bands != new_bands:
            diff.weights.append(f"{qid} ranges: {old_bands} → {new_bands}")
    old_params = {p.id: p for p in old.parameters}
    for p in new.parameters:
        prev_p = old_params.get(p.id)
        if prev_p is None:
            diff.weights.append(f"parameter {p.id}: new, max {p.max}")
        elif (prev_p.max, prev_p.min) != (p.max, p.min):
            diff.weights.append(f"{p.id}: max {prev_p.max} → {p.max}, min {prev_p.min} → {p.min}")
    for pid in old_params.keys() - {p.id for p in new.parameters}:
        diff.weights.append(f"parameter {pid}: removed")
    for tier in ("hot", "warm"):
        a, b = getattr(old.thresholds, tier), getattr(new.thresholds, tier)
        if a != b:
            diff.thresholds.append(f"{tier}: {a:g}% → {b:g}%")
    return diff


class AdminService(Service):
    # ------------------------------------------------------------ reading
    async def list_flows(self) -> list[FlowInfo]:
        async with self.db.session() as session:
            rows = await repo.list_flow_versions(session)
        by_flow: dict[str, list[VersionInfo]] = {}
        for row in rows:
            by_flow.setdefault(row.flow_id, []).append(VersionInfo.of(row))
        builtin = set(self.registry.builtin_ids())
        out: list[FlowInfo] = []
        for flow_id in sorted(builtin | by_flow.keys()):
            versions = tuple(by_flow.get(flow_id, ()))
            live = next((f"v{v.version}" for v in versions if v.active), "built-in")
            out.append(FlowInfo(flow_id, flow_id in builtin, live, versions))
        return out

    async def preview(self, text: str, filename: str) -> Preview:
        """Validate and run the examples; FlowError (file:line: reason) on the first problem."""
        from flows.check import check_flow, compare, play_example
        from flows.compiler import compile_flow
        from flows.loader import load_text

        flow = load_text(text, filename)
        compiled = compile_flow(flow)
        problems = check_flow(flow, compiled)
        if problems:
            first = problems[0]
            first.problems = problems
            raise first
        examples = []
        for ex in flow.examples:
            run = play_example(compiled, ex)
            res = run.result
            ok = "ok" if not compare(ex, run) else "FAILED"
            examples.append(f"{ok}: {ex.name}: {res.total}/{res.max_total} {res.tier}")
        live = await self._live_flow(flow.id)
        return Preview(
            flow=flow,
            compiled=compiled,
            diff=diff_flows(live, flow),
            examples=examples,
            parameters=[
                (p.name.get(flow.languages[0], p.id), p.min, p.max) for p in flow.parameters
            ],
            thresholds=(flow.thresholds.hot, flow.thresholds.warm),
        )

    async def _live_flow(self, flow_id: str) -> FlowDef | None:
        from bot.services.flow_registry import UnknownFlowError

        try:
            return (await self.registry.active(flow_id)).compiled.flow
        except UnknownFlowError:
            return None

    async def download(self, flow_id: str, version: int | None = None) -> tuple[str, str]:
        """(file name, YAML text) of a version; the live one when `version` is None."""
        async with self.db.session() as session:
            if version is not None:
                row = await repo.get_flow_version_by_number(session, flow_id, version)
                if row is None:
                    raise AdminError(await self._no_version(session, flow_id, version))
                return f"{flow_id}-v{row.version}.yaml", row.source
            row = await repo.get_active_flow_version(session, flow_id)
            if row is not None:
                return f"{flow_id}-v{row.version}.yaml", row.source
        path = self.registry.builtin_paths().get(flow_id)
        if path is None:
            raise AdminError(f"there is no flow '{flow_id}'")
        return f"{flow_id}.yaml", path.read_text(encoding="utf-8")

    # ------------------------------------------------------------ changing
    async def import_flow(
        self, text: str, *, filename: str, actor: Actor, activate: bool = False
    ) -> ImportResult:
        """Store a validated file as the next version. Raises FlowError, storing nothing."""
        self._check(actor)
        preview = await self.preview(text, filename)
        flow_id, digest = preview.flow.id, preview.compiled.digest
        now = self.clock()
        async with self.db.transaction() as session:
            live = await repo.get_active_flow_version(session, flow_id)
            live_name = f"v{live.version}" if live else "built-in"
            row = await repo.find_flow_version_by_digest(session, flow_id, digest)
            duplicate = row is not None
            if row is None:
                row = await repo.add_flow_version(
                    session, flow_id, source=text, digest=digest, created_by=actor.name, now=now
                )
                await self._audit(session, actor, "flow.import", flow_id, None, f"v{row.version}")
            assert row.id is not None
            activated = False
            if activate and not row.active:
                row = await repo.activate_flow_version(session, row.id, now=now)
                await self._audit(
                    session, actor, "flow.activate", flow_id, live_name, f"v{row.version}"
                )
                activated = True
            return ImportResult(preview, VersionInfo.of(row), activated, duplicate)

    async def activate(self, flow_id: str, version: int, *, actor: Actor) -> VersionInfo:
        self._check(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            row = await repo.get_flow_version_by_number(session, flow_id, version)
            if row is None or row.id is None:
                raise AdminError(await self._no_version(session, flow_id, version))
            live = await repo.get_active_flow_version(session, flow_id)
            if live is not None and live.id == row.id:
                return VersionInfo.of(row)
            row = await repo.activate_flow_version(session, row.id, now=now)
            await self._audit(
                session,
                actor,
                "flow.activate",
                flow_id,
                f"v{live.version}" if live else "built-in",
                f"v{row.version}",
            )
            return VersionInfo.of(row)

    async def rollback(self, flow_id: str, *, actor: Actor) -> VersionInfo | None:
        """The version before the live one goes live; None means the built-in file is live again."""
        self._check(actor)
        now = self.clock()
        async with self.db.transaction() as session:
            live = await repo.get_active_flow_version(session, flow_id)
            if live is None:
                raise AdminError(
                    f"'{flow_id}' runs its built-in file; there is nothing to roll back"
                )
            row = await repo.rollback_flow_version(session, flow_id, now=now)
            if row is None:
                if flow_id not in self.registry.builtin_paths():
                    raise AdminError(f"v{live.version} is the first version of '{flow_id}'")
                await repo.deactivate_flow(session, flow_id)
            to = f"v{row.version}" if row else "built-in"
            await self._audit(session, actor, "flow.rollback", flow_id, f"v{live.version}", to)
            return VersionInfo.of(row) if row else None

    async def set_default_flow(self, flow_id: str, *, actor: Actor) -> None:
        """The flow a /start without a known payload gets (overrides DEFAULT_FLOW)."""
        self._check(actor)
        async with self.db.transaction() as session:
            if flow_id not in await self.registry.known_ids(session):
                raise AdminError(f"there is no flow '{flow_id}'")
            before = await repo.get_setting(session, DEFAULT_FLOW_SETTING)
            await repo.set_setting(session, DEFAULT_FLOW_SETTING, flow_id, now=self.clock())
            await self._audit(session, actor, "flow.default", DEFAULT_FLOW_SETTING, before, flow_id)

    async def set_deep_link(
        self, payload: str, flow_id: str, source: str | None, *, actor: Actor
    ) -> None:
        """t.me/<bot>?start=<payload> → flow and source (before `<flow>-<source>` parsing)."""
        self._check(actor)
        async with self.db.transaction() as session:
            if flow_id not in await self.registry.known_ids(session):
                raise AdminError(f"there is no flow '{flow_id}'")
            try:
                repo.check_deep_link_payload(payload)
            except ValueError as exc:
                raise AdminError(str(exc)) from None
            old = await repo.get_deep_link(session, payload)
            await repo.set_deep_link(session, payload, flow_id, source=source, now=self.clock())
            await self._audit(
                session,
                actor,
                "deep_link.set",
                payload,
                f"{old.flow_id}/{old.source}" if old else None,
                f"{flow_id}/{source}",
            )

    async def change_threshold(
        self, flow_id: str, tier: str, percent: float, *, actor: Actor
    ) -> ImportResult:
        """`/threshold hot 80`: a new version of the live flow with the threshold moved,
        validated and its examples run like any upload; live at once unless an
        example now fails (then stored only, for the admin to look at)."""
        self._check(actor)
        if tier not in ("hot", "warm"):
            raise AdminError("the tier is hot or warm")
        if not 0 < percent <= 100:
            raise AdminError("the threshold is a percent, above 0 and up to 100")
        flow, text = await self._live_source(flow_id)
        before = getattr(flow.thresholds, tier)
        value = f"{percent:g}"
        text = patch_value(text, flow, ("thresholds", tier), value, parent=("thresholds",))
        change = f"threshold {tier}: {before:g}% → {value}%"
        return await self._new_version(flow_id, text, actor, "flow.threshold", change)

    async def change_weight(
        self, flow_id: str, target: str, value: int, *, actor: Actor
    ) -> ImportResult:
        """`/weight budget 30` (a parameter's max) or `/weight budget.ready 20` (an
        option's points): a new version like any other change."""
        self._check(actor)
        flow, text = await self._live_source(flow_id)
        if "." in target:
            qid, _, oid = target.partition(".")
            qi = next((i for i, q in enumerate(flow.questions) if q.id == qid), None)
            if qi is None:
                raise AdminError(f"'{flow_id}' has no question '{qid}'")
            options = flow.questions[qi].options
            oi = next((i for i, o in enumerate(options) if o.id == oid), None)
            if oi is None:
                raise AdminError(f"question '{qid}' has no option '{oid}'")
            before = options[oi].points
            path: tuple = ("questions", qi, "options", oi, "points")
            text = patch_value(text, flow, path, str(value), parent=path[:-1])
            change = f"weight {qid}/{oid}: {before} → {value}"
        else:
            pi = next((i for i, p in enumerate(flow.parameters) if p.id == target), None)
            if pi is None:
                known = ", ".join(p.id for p in flow.parameters)
                raise AdminError(f"'{flow_id}' has no parameter '{target}' (it has {known})")
            before = flow.parameters[pi].max
            path = ("parameters", pi, "max")
            text = patch_value(text, flow, path, str(value), parent=path[:-1])
            change = f"weight {target}: max {before} → {value}"
        return await self._new_version(flow_id, text, actor, "flow.weight", change)

    async def list_deep_links(self) -> list[tuple[str, str, str | None]]:
        async with self.db.session() as session:
            return [(d.payload, d.flow_id, d.source) for d in await repo.list_deep_links(session)]

    async def audit_log(self, limit: int = 50) -> list:
        async with self.db.session() as session:
            return list(await repo.list_audit(session))[:limit]  # newest first

    async def _live_source(self, flow_id: str) -> tuple[FlowDef, str]:
        from flows.loader import load_text

        try:
            _, text = await self.download(flow_id)
        except AdminError:
            raise
        return load_text(text, f"{flow_id}.yaml"), text

    async def _new_version(
        self, flow_id: str, text: str, actor: Actor, what: str, change: str
    ) -> ImportResult:
        from flows.schema import FlowError

        try:
            preview = await self.preview(text, f"{flow_id}.yaml")
        except FlowError as exc:
            raise AdminError(exc.reason) from None
        if preview.flow.id != flow_id:
            raise AdminError(f"the file's id is '{preview.flow.id}', not '{flow_id}'")
        ok = all(not line.startswith("FAILED") for line in preview.examples)
        result = await self.import_flow(text, filename=f"{flow_id}.yaml", actor=actor, activate=ok)
        async with self.db.transaction() as session:
            before, _, after = change.rpartition(" → ")
            await self._audit(
                session, actor, what, flow_id, before, f"{after} (v{result.version.version})"
            )
        return result

    # ------------------------------------------------------------ the sales card template
    def check_card(self, text: str, filename: str) -> str:
        """Validate a card template; the sample lead's card (HTML). Raises CardTemplateError."""
        from bot.services.card_template import check_template

        return check_template(text, filename, self.config.sales_lang).sample_html

    async def import_card(
        self, text: str, *, filename: str, actor: Actor, activate: bool = False
    ) -> CardImport:
        """Store a validated template as the next version (live at once if asked).
        Raises CardTemplateError, storing nothing."""
        from bot.services.card_template import check_template

        self._check(actor)
        checked = check_template(text, filename, self.config.sales_lang)
        async with self.db.transaction() as session:
            row = await repo.find_card_template_by_digest(session, checked.digest)
            duplicate = row is not None
            if row is None:
                row = await repo.add_card_template(
                    session,
                    source=text,
                    digest=checked.digest,
                    filename=filename,
                    created_by=actor.name,
                    now=self.clock(),
                )
                await self._audit(session, actor, "card.import", "card", None, f"v{row.version}")
            activated = False
            if activate and not row.active:
                row = await self._activate_card(session, row.version, actor)
                activated = True
            return CardImport(CardVersion.of(row), checked.sample_html, duplicate, activated)

    async def activate_card(self, version: int, *, actor: Actor) -> CardVersion:
        self._check(actor)
        async with self.db.transaction() as session:
            row = await repo.get_card_template(session, version)
            if row is None:
                raise AdminError(await self._no_card(session, version))
            if not row.active:
                row = await self._activate_card(session, version, actor)
            return CardVersion.of(row)

    async def reset_card(self, *, actor: Actor) -> CardVersion | None:
        """Back to the built-in card; the version that was live (None: it already was)."""
        self._check(actor)
        async with self.db.transaction() as session:
            live = await repo.get_active_card_template(session)
            if live is None:
                return None
            await repo.deactivate_card_templates(session)
            await self._audit(session, actor, "card.reset", "card", f"v{live.version}", "built-in")
            return CardVersion.of(live)

    async def card_versions(self) -> list[CardVersion]:
        async with self.db.session() as session:
            return [CardVersion.of(r) for r in await repo.list_card_templates(session)]

    async def card_source(self, version: int | None = None) -> tuple[str, str, CardVersion | None]:
        """(file name, template text, version) of a stored version, or of the live card
        when `version` is None (the built-in file, version None, when none is live)."""
        from bot.services.card_template import TEMPLATE_NAME, builtin_source

        async with self.db.session() as session:
            if version is None:
                row = await repo.get_active_card_template(session)
                if row is None:
                    return TEMPLATE_NAME, builtin_source(), None
            else:
                row = await repo.get_card_template(session, version)
                if row is None:
                    raise AdminError(await self._no_card(session, version))
        return f"card-v{row.version}.html.j2", row.source, CardVersion.of(row)

    async def _activate_card(
        self, session: AsyncSession, version: int, actor: Actor
    ) -> CardTemplate:
        live = await repo.get_active_card_template(session)
        row = await repo.activate_card_template(session, version, now=self.clock())
        before = f"v{live.version}" if live else "built-in"
        await self._audit(session, actor, "card.activate", "card", before, f"v{row.version}")
        return row

    @staticmethod
    async def _no_card(session: AsyncSession, version: int) -> str:
        rows = await repo.list_card_templates(session)
        if not rows:
            return "no card template has been uploaded yet"
        have = ", ".join(f"v{r.version}" for r in rows)
        return f"there is no card template v{version}; there are {have}"

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _check(actor: Actor) -> None:
        if not actor.is_admin:
            raise AdminError("only admins can change flows")

    async def _audit(
        self,
        session: AsyncSession,
        actor: Actor,
        what: str,
        subject: str,
        from_value: str | None,
        to_value: str | None,
    ) -> None:
        await repo.add_audit(
            session,
            actor.name,
            what,
            who_id=actor.user_id,
            subject=subject,
            from_value=from_value,
            to_value=to_value,
            now=self.clock(),
        )

    async def _no_version(self, session: AsyncSession, flow_id: str, version: int) -> str:
        rows = await repo.list_flow_versions(session, flow_id)
        if not rows:
            return f"'{flow_id}' has no stored versions"
        have = ", ".join(str(r.version) for r in rows)
        return f"'{flow_id}' has no version {version}; it has {have}"


def patch_value(text: str, flow: FlowDef, path: tuple, value: str, *, parent: tuple) -> str:
    """Set the scalar at `path` in the YAML text, keeping everything else (comments,
    layout) as it was: the key's line is found through the flow's line map."""
    import re

    key = str(path[-1])
    lines = text.splitlines(keepends=True)
    known = flow._lines  # (path) -> 1-based line, from the loader
    pattern = re.compile(rf"(^|[\s{{,]){re.escape(key)}(\s*:\s*)([-+]?[0-9][0-9.]*)")
    if path in known:
        i = known[path] - 1
        new, n = pattern.subn(lambda m: f"{m.group(1)}{key}{m.group(2)}{value}", lines[i], 1)
        if n:
            lines[i] = new
            return "".join(lines)
        raise AdminError(f"could not change {'.'.join(map(str, path))} in the file; edit it")
    if parent in known and parent == ("thresholds",):
        i = known[parent] - 1
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if line.rstrip().endswith("{}") or "{" in line:
            raise AdminError("could not change the thresholds in the file; edit it")
        lines.insert(i + 1, " " * (indent + 2) + f"{key}: {value}\n")
        return "".join(lines)
    if parent == ("thresholds",):
        if not text.endswith("\n"):
            text += "\n"
        return text + f"thresholds:\n  {key}: {value}\n"
    raise AdminError(f"{'.'.join(map(str, path))} is not written in the file; add it there")
