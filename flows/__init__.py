"""Qualibot's interview engine: flows as data, run as state machines, scored per parameter.

Pure library: imports neither aiogram nor storage.

    from flows import builtin_flow_paths, compile_flow, load_flow

    flow = load_flow(builtin_flow_paths()["bant"])
    cf = compile_flow(flow)                 # once per flow version, cached by digest
    step = cf.start("en", known={"name": "Anna"})
    step = cf.answer(step.state, "we chose you, the price is fine")
    cf.question(step.state)                 # what to ask next, or None when ended
    cf.result(step.state)                   # scores, tier, stage, reasons, next actions

Names are imported lazily (PEP 562), so `import flows.answers` stays light and
`python -m bot` pays only for what a command uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AnswerRecord": "flows.state",
    "InterviewState": "flows.state",
    "QuestionView": "flows.state",
    "SignalRecord": "flows.state",
    "Step": "flows.state",
    "FlowDef": "flows.schema",
    "FlowError": "flows.schema",
    "builtin_flow_paths": "flows.loader",
    "load_file": "flows.loader",
    "load_flow": "flows.loader",
    "load_text": "flows.loader",
    "compile_flow": "flows.compiler",
    "clear_cache": "flows.compiler",
    "CompiledFlow": "flows.engine",
    "ParameterResult": "flows.scoring",
    "Result": "flows.scoring",
    "check_file": "flows.check",
    "check_flow": "flows.check",
    "check_paths": "flows.check",
    "check_text": "flows.check",
    "play_example": "flows.check",
    "draw": "flows.graph",
    "to_dot": "flows.graph",
    "to_mermaid": "flows.graph",
}

__all__ = [
    "AnswerRecord",
    "CompiledFlow",
    "FlowDef",
    "FlowError",
    "InterviewState",
    "ParameterResult",
    "QuestionView",
    "Result",
    "SignalRecord",
    "Step",
    "builtin_flow_paths",
    "check_file",
    "check_flow",
    "check_paths",
    "check_text",
    "clear_cache",
    "compile_flow",
    "draw",
    "load_builtin",
    "load_file",
    "load_flow",
    "load_text",
    "play_example",
    "to_dot",
    "to_mermaid",
]

if TYPE_CHECKING:  # pragma: no cover
    from flows.check import check_file, check_flow, check_paths, check_text, play_example
    from flows.compiler import clear_cache, compile_flow
    from flows.engine import CompiledFlow
    from flows.graph import draw, to_dot, to_mermaid
    from flows.loader import builtin_flow_paths, load_file, load_flow, load_text
    from flows.schema import FlowDef, FlowError
    from flows.scoring import ParameterResult, Result
    from flows.state import AnswerRecord, InterviewState, QuestionView, SignalRecord, Step


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flows' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_builtin(flow_id: str) -> FlowDef:
    """Load a built-in flow by id (bant, gpctba, ...). KeyError when there is none."""
    from flows.loader import builtin_flow_paths, load_flow

    return load_flow(builtin_flow_paths()[flow_id])
