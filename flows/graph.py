"""Draw a flow: Mermaid text always; Graphviz dot text, SVG or PNG when `dot` exists.

Used at preview time only (`python -m bot flows graph NAME -o FILE`). The
drawing is made from the flow definition: one box per question, an arrow per
`next:` line labelled with its condition, dashed arrows for knock-outs, and
the `skip_if:` condition written under a question that may be skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flows.schema import FlowDef, Question

_MAX_LABEL = 60


def _short(text: str, n: int = _MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _edges(flow: FlowDef) -> list[tuple[str, str, str | None, bool]]:
    """(from, to, label, dashed) for every arrow of the flow."""
    order = [q.id for q in flow.questions]
    out: list[tuple[str, str, str | None, bool]] = [("start", order[0], None, False)]
    for i, q in enumerate(flow.questions):
        following = order[i + 1] if i + 1 < len(order) else "done"
        if q.next:
            for line in q.next:
                out.append((q.id, line.to, line.when.describe() if line.when else None, False))
        else:
            out.append((q.id, following, None, False))
        reasons = sorted(_knockouts(q))
        if reasons:
            out.append((q.id, "out", "knock-out: " + ", ".join(reasons), True))
    return out


def _knockouts(q: Question) -> set[str]:
    found = {o.knockout.reason for o in q.options if o.knockout}
    found |= {b.knockout.reason for b in (*q.ranges, *q.bands) if b.knockout}
    found |= {r.knockout.reason for r in q.rules if r.knockout}
    return found


def _label(flow: FlowDef, q: Question, lang: str) -> str:
    text = _short(q.text.get(lang) or next(iter(q.text.values())))
    extra = f" [{q.parameter}]" if q.parameter else ""
    label = f"{q.id}{extra} ({q.kind}): {text}"
    if q.skip_if is not None:
        label += f" — skipped if {q.skip_if.describe()}"
    return label


def to_mermaid(flow: FlowDef, lang: str | None = None) -> str:
    lang = lang or flow.languages[0]

    def esc(s: str) -> str:
        return s.replace('"', "#quot;").replace("|", "#124;")

    lines = ["flowchart TD", "  start((start))", "  done((done))", "  out((out))"]
    for q in flow.questions:
        lines.append(f'  {q.id}["{esc(_label(flow, q, lang))}"]')
    for src, dst, label, dashed in _edges(flow):
        arrow = "-.->" if dashed else "-->"
        lines.append(f"  {src} {arrow}|{esc(label)}| {dst}" if label else f"  {src} {arrow} {dst}")
    return "\n".join(lines) + "\n"


def to_dot(flow: FlowDef, lang: str | None = None) -> str:
    lang = lang or flow.languages[0]

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"')

    lines = [
        f'digraph "{esc(flow.id)}" {{',
        "  rankdir=TB;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        "  start [shape=circle]; done [shape=doublecircle]; out [shape=doublecircle];",
    ]
    for q in flow.questions:
        lines.append(f'  "{q.id}" [label="{esc(_label(flow, q, lang))}"];')
    for src, dst, label, dashed in _edges(flow):
        attrs = []
        if label:
            attrs.append(f'label="{esc(label)}"')
        if dashed:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{src}" -> "{dst}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def have_dot() -> bool:
    return shutil.which("dot") is not None


@dataclass(frozen=True)
class GraphOutput:
    path: Path
    format: str  # mermaid | dot | svg | png
    note: str | None = None  # e.g. "Graphviz is not installed; wrote Mermaid text instead"


def draw(flow: FlowDef, output: str | Path, lang: str | None = None) -> GraphOutput:
    """Write the drawing to `output`; the suffix chooses the format.

    .svg / .png need Graphviz's `dot`; without it the Mermaid text is written
    next to it (same name, .mmd) and the note says so. .dot / .gv write dot
    text, .mmd / .md / anything else Mermaid text.
    """
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix in (".svg", ".png"):
        if have_dot():
            proc = subprocess.run(
                ["dot", f"-T{suffix[1:]}", "-o", str(path)],
                input=to_dot(flow, lang).encode(),
                capture_output=True,
                timeout=60,
                check=False,
            )
            if proc.returncode == 0:
                return GraphOutput(path, suffix[1:])
            why = proc.stderr.decode(errors="replace").strip()[:200]
            note = f"dot failed ({why}); wrote Mermaid text"
        else:
            note = "Graphviz (dot) is not installed; wrote Mermaid text instead"
        alt = path.with_suffix(".mmd")
        alt.write_text(to_mermaid(flow, lang), encoding="utf-8")
        return GraphOutput(alt, "mermaid", note)
    if suffix in (".dot", ".gv"):
        path.write_text(to_dot(flow, lang), encoding="utf-8")
        return GraphOutput(path, "dot")
    path.write_text(to_mermaid(flow, lang), encoding="utf-8")
    return GraphOutput(path, "mermaid")
