"""Which flow version an interview runs, compiled once per version.

- A new interview gets the flow's live version: the one an admin activated in
  the flow_version table, else the built-in file shipped with the code.
- An interview in progress keeps its own version (by flow_version_id or
  digest), so activating or rolling back never breaks a live chat.
- Built-in files are recorded in flow_version (inactive, created_by "builtin")
  the first time an interview uses them, so an interview can always reload its
  version, even after an upgrade changed the built-in file.

The live version is read from the database on every new interview (one small
query), so an activation in one process is seen by every process at once;
compiled flows are cached in memory by digest, which never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.services.clock import Clock, system_clock
from bot.services.config import ServiceConfig
from storage import repositories as repo
from storage.database import Database
from storage.sql import advisory_lock

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from flows.engine import CompiledFlow

DEFAULT_FLOW_SETTING = "default_flow"
BUILTIN_AUTHOR = "builtin"


class UnknownFlowError(LookupError):
    """No built-in file and no stored version has this flow id (or digest)."""


@dataclass(frozen=True)
class FlowHandle:
    """A flow version ready to run."""

    flow_id: str
    compiled: CompiledFlow
    version_id: int | None  # flow_version row; None for a built-in not yet recorded
    version: int | None  # its number, for people
    builtin: bool  # the live version is the built-in file (no admin version active)

    @property
    def digest(self) -> str:
        return self.compiled.digest


@dataclass(frozen=True)
class StartTarget:
    """Where a /start payload leads: a flow and the source to record."""

    flow_id: str
    source: str | None


def _compile_text(text: str, file: str) -> CompiledFlow:
    from flows.compiler import compile_flow
    from flows.loader import load_text

    return compile_flow(load_text(text, file))


class FlowRegistry:
    def __init__(
        self,
        db: Database,
        *,
        config: ServiceConfig | None = None,
        clock: Clock = system_clock,
        builtin_paths: dict[str, Path] | None = None,
    ) -> None:
        self.db = db
        self.config = config or ServiceConfig()
        self.clock = clock
        self._paths = builtin_paths
        self._by_digest: dict[str, CompiledFlow] = {}
        self._builtin: dict[str, CompiledFlow] = {}

    # ---------------------------------------------------------------- built-ins
    def builtin_paths(self) -> dict[str, Path]:
        if self._paths is None:
            from flows.loader import builtin_flow_paths

            self._paths = dict(builtin_flow_paths())
        return self._paths

    def builtin_ids(self) -> list[str]:
        return sorted(self.builtin_paths())

    def builtin(self, flow_id: str) -> CompiledFlow:
        """The built-in file's compiled flow (read once per process)."""
        hit = self._builtin.get(flow_id)
        if hit is not None:
            return hit
        path = self.builtin_paths().get(flow_id)
        if path is None:
            raise UnknownFlowError(flow_id)
        compiled = _compile_text(path.read_text(encoding="utf-8"), str(path))
        self._builtin[flow_id] = compiled
        self._by_digest[compiled.digest] = compiled
        return compiled

    def compile_source(self, source: str, file: str) -> CompiledFlow:
        """Compile stored YAML, cached by its digest (sha256 of the text)."""
        import hashlib

        digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        hit = self._by_digest.get(digest)
        if hit is None:
            hit = _compile_text(source, file)
            self._by_digest[hit.digest] = hit
        return hit

    # ---------------------------------------------------------------- lookups
    async def known_ids(self, session: AsyncSession | None = None) -> list[str]:
        if session is None:
            async with self.db.session() as s:
                return await self.known_ids(s)
        stored = await repo.list_flow_ids(session)
        return sorted(set(self.builtin_ids()) | set(stored))

    async def active(self, flow_id: str, session: AsyncSession | None = None) -> FlowHandle:
        """The live version of `flow_id`. UnknownFlowError when there is none."""
        if session is None:
            async with self.db.session() as s:
                return await self.active(flow_id, s)
        row = await repo.get_active_flow_version(session, flow_id)
        if row is not None:
            compiled = self.compile_source(row.source, f"{flow_id} v{row.version}")
            return FlowHandle(flow_id, compiled, row.id, row.version, builtin=False)
        return FlowHandle(flow_id, self.builtin(flow_id), None, None, builtin=True)

    async def record(self, session: AsyncSession, handle: FlowHandle) -> FlowHandle:
        """Make sure the handle's version has a flow_version row (built-ins get one, inactive)."""
        if handle.version_id is not None:
            return handle
        digest = handle.digest
        # Looked up every time rather than cached: a cached id from a transaction
        # that later rolled back would point at nothing. The lock (PostgreSQL; SQLite
        # serialises writers) keeps two processes from recording the file twice.
        await advisory_lock(session, f"flow_version:{handle.flow_id}")
        row = await repo.find_flow_version_by_digest(session, handle.flow_id, digest)
        if row is None:
            source = handle.compiled.flow.source
            assert source is not None
            row = await repo.add_flow_version(
                session,
                handle.flow_id,
                source=source,
                digest=digest,
                created_by=BUILTIN_AUTHOR,
                now=self.clock(),
            )
        assert row.id is not None
        return FlowHandle(handle.flow_id, handle.compiled, row.id, row.version, handle.builtin)

    async def for_interview(
        self,
        flow_id: str,
        digest: str,
        flow_version_id: int | None,
        session: AsyncSession | None = None,
    ) -> CompiledFlow:
        """The exact version an interview started with."""
        hit = self._by_digest.get(digest)
        if hit is not None:
            return hit
        if session is None:
            async with self.db.session() as s:
                return await self.for_interview(flow_id, digest, flow_version_id, s)
        row = None
        if flow_version_id is not None:
            row = await repo.get_flow_version(session, flow_version_id)
        if row is None or row.digest != digest:
            row = await repo.find_flow_version_by_digest(session, flow_id, digest)
        if row is not None:
            return self.compile_source(row.source, f"{flow_id} v{row.version}")
        try:
            compiled = self.builtin(flow_id)
        except UnknownFlowError:
            compiled = None
        if compiled is not None and compiled.digest == digest:
            return compiled
        raise UnknownFlowError(f"{flow_id} version {digest[:8]}")

    async def default_flow(
        self, session: AsyncSession | None = None, *, known: list[str] | None = None
    ) -> str:
        """The admins' choice (setting row), else DEFAULT_FLOW, else the first built-in.
        `known`: known_ids() if the caller just read them (saves reading them again)."""
        if session is None:
            async with self.db.session() as s:
                return await self.default_flow(s, known=known)
        known = known if known is not None else await self.known_ids(session)
        chosen = await repo.get_setting(session, DEFAULT_FLOW_SETTING)
        for candidate in (chosen, self.config.default_flow):
            if candidate and candidate in known:
                return candidate
        return "bant" if "bant" in known else known[0]

    async def resolve(
        self, payload: str | None, session: AsyncSession | None = None
    ) -> StartTarget:
        """A /start payload → flow and source.

        Explicit deep links first, then `<flow>-<source>` (or just `<flow>`), else
        the default flow with the whole payload as the source.
        """
        if session is None:
            async with self.db.session() as s:
                return await self.resolve(payload, s)
        payload = (payload or "").strip()[:64] or None
        known = await self.known_ids(session)
        if payload:
            link = await repo.get_deep_link(session, payload)
            if link is not None and link.flow_id in known:
                return StartTarget(link.flow_id, link.source or payload)
            head, _, tail = payload.partition("-")
            if head.lower() in known:
                return StartTarget(head.lower(), tail or None)
        return StartTarget(await self.default_flow(session, known=known), payload)
