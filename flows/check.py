"""Validate flow files and run their `examples:` (`python -m bot flows check`).

Every problem is reported as `file:line: reason`. An example answers the
questions as a prospect would type them; the check plays the interview with
the real engine and compares the result with the example's `expect:`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from flows.compiler import compile_flow
from flows.engine import CompiledFlow
from flows.loader import builtin_flow_paths, load_file, load_text
from flows.schema import Example, FlowDef, FlowError
from flows.scoring import Result
from flows.state import InterviewState


@dataclass(frozen=True)
class ExampleRun:
    """What an example did: the final state, the questions asked in order, the result."""

    state: InterviewState
    asked: tuple[str, ...]
    result: Result
    problems: tuple[tuple[tuple[Any, ...], str], ...]  # (path inside the example, reason)


def play_example(compiled: CompiledFlow, example: Example) -> ExampleRun:
    """Run one example through the engine (answers typed, unlisted questions skipped)."""
    step = compiled.start(example.lang, known=example.known)
    state = step.state
    asked: list[str] = []
    problems: list[tuple[tuple[Any, ...], str]] = []
    today = example.today
    limit = 2 * len(compiled.program.order) + 2
    if isinstance(example.answers, dict):
        pending = {k: list(v) for k, v in example.answers.items()}
        for _ in range(limit):
            if state.finished:
                break
            qid = state.state
            if not asked or asked[-1] != qid:
                asked.append(qid)
            texts = pending.get(qid)
            if texts:
                state = compiled.answer(state, texts.pop(0), today=today).state
            else:
                state = compiled.skip(state).state
        for qid, rest in pending.items():
            if qid not in asked:
                problems.append(
                    (
                        ("answers", qid),
                        f"the interview never asked '{qid}' (asked: {', '.join(asked)})",
                    )
                )
            elif rest:
                problems.append(
                    (
                        ("answers", qid),
                        f"'{qid}' was answered before {len(rest)} of its texts were used",
                    )
                )
    else:
        for i, text in enumerate(example.answers):
            if state.finished:
                problems.append(
                    (("answers", i), "the interview had already ended before this answer")
                )
                break
            if not asked or asked[-1] != state.state:
                asked.append(state.state)
            state = compiled.answer(state, text, today=today).state
    for name in example.events:
        state = compiled.event(state, name).state
    return ExampleRun(state, tuple(asked), compiled.result(state), tuple(problems))


def _summary(run: ExampleRun) -> str:
    res = run.result
    parts = []
    for p in res.parameters:
        if p.unknown:
            parts.append(f"{p.id} unknown")
        else:
            whys = "; ".join(a.reason or "" for a in p.answers if not a.unknown)
            parts.append(
                f"{p.id} {p.points}/{p.max} ({whys})" if whys else f"{p.id} {p.points}/{p.max}"
            )
    missed = [
        a.question_id for a in run.state.answers if a.unknown and a.reason == "not understood"
    ]
    text = f"got {res.total}/{res.max_total} {res.tier}: " + ", ".join(parts)
    if missed:
        text += f"; not understood: {', '.join(missed)}"
    return text


def compare(example: Example, run: ExampleRun) -> list[tuple[tuple[Any, ...], str]]:
    """Differences between an example's expectations and what happened."""
    exp = example.expect
    res = run.result
    out: list[tuple[tuple[Any, ...], str]] = list(run.problems)
    given = exp.model_fields_set
    summary = _summary(run)

    for key, got in (
        ("total", res.total),
        ("max_total", res.max_total),
        ("tier", res.tier),
        ("fit", res.fit_score),
        ("engagement", res.engagement_score),
        ("fast_tracked", res.fast_tracked),
        ("finished", res.finished),
        ("knockout", res.knockout),
        ("stage", res.stage),
    ):
        if key in given and getattr(exp, key) != got:
            want = getattr(exp, key)
            out.append((("expect", key), f"expected {key} {want}, got {got} — {summary}"))
    if "percent" in given and exp.percent is not None and abs(exp.percent - res.percent) > 0.05:
        out.append(
            (
                ("expect", "percent"),
                f"expected percent {exp.percent:g}, got {res.percent:g} — {summary}",
            )
        )
    if exp.points:
        got_points = res.points
        for pid, want in exp.points.items():
            if got_points.get(pid) != want:
                out.append(
                    (
                        ("expect", "points", pid),
                        f"expected {pid} {want}, got {got_points.get(pid)} — {summary}",
                    )
                )
    if exp.unknowns is not None and sorted(exp.unknowns) != sorted(res.unknowns):
        out.append(
            (
                ("expect", "unknowns"),
                f"expected unknowns [{', '.join(exp.unknowns)}], "
                f"got [{', '.join(res.unknowns)}] — {summary}",
            )
        )
    for qid in exp.asked or []:
        if qid not in run.asked:
            out.append(
                (
                    ("expect", "asked"),
                    f"expected '{qid}' to be asked; asked: {', '.join(run.asked)}",
                )
            )
    for qid in exp.not_asked or []:
        if qid in run.asked:
            out.append((("expect", "not_asked"), f"expected '{qid}' not to be asked, but it was"))
    return out


def check_flow(flow: FlowDef, compiled: CompiledFlow | None = None) -> list[FlowError]:
    """Run a loaded flow's examples; problems as FlowErrors with lines."""
    compiled = compiled or compile_flow(flow)
    problems: list[FlowError] = []
    for i, ex in enumerate(flow.examples):
        run = play_example(compiled, ex)
        for path, reason in compare(ex, run):
            line = flow.line_of(("examples", i, *path))
            problems.append(FlowError(flow.file, line, f"example '{ex.name}': {reason}"))
    return problems


def check_text(text: str, file: str = "<text>") -> list[FlowError]:
    try:
        flow = load_text(text, file)
    except FlowError as exc:
        return list(exc.problems)
    return check_flow(flow)


def check_file(path: str | Path) -> list[FlowError]:
    try:
        flow = load_file(path)
    except FlowError as exc:
        return list(exc.problems)
    return check_flow(flow)


def check_paths(paths: Iterable[str | Path] = ()) -> list[FlowError]:
    """Check files (default: every built-in flow). Returns every problem found."""
    chosen = list(paths) or list(builtin_flow_paths().values())
    problems: list[FlowError] = []
    for path in chosen:
        problems.extend(check_file(path))
    return problems


def main(
    paths: Sequence[str | Path] = (), out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """CLI body: print `file:line: reason` per problem; 0 when all files pass, else 1."""
    out = out or sys.stdout
    err = err or sys.stderr
    chosen = list(paths) or list(builtin_flow_paths().values())
    if not chosen:
        print("no flow files to check", file=err)
        return 1
    failed = False
    for path in chosen:
        try:
            flow = load_file(path)
        except FlowError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=err)
            continue
        problems = check_flow(flow)
        if problems:
            failed = True
            for problem in problems:
                print(problem, file=err)
        else:
            print(
                f"ok {path}: {flow.id} ({flow.framework}), {len(flow.questions)} questions, "
                f"{len(flow.examples)} examples passed",
                file=out,
            )
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
