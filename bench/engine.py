"""Engine benchmark: YAML parse, compile, and answers per second on one core.

Run from the project root:

    python bench/engine.py            # every built-in flow and a generated 200-question flow
    python bench/engine.py --quick    # fewer rounds

For each flow it prints:
- parse: YAML text -> validated FlowDef (safe YAML, pydantic, whole-flow checks), median;
- compile: FlowDef -> transitions machine and lookup tables (cache bypassed), median;
- warm: building the typed-answer matching indexes (done lazily, on a question's first
  answer, once per flow version and process; `CompiledFlow.warm()` does it at once), first run;
- answers/s: typed answers through `CompiledFlow.answer` (intent search, typed-answer
  matching, transitions, new state), with `result()` scored at the end of every
  interview, single thread. The parsers' per-text caches are cleared before each
  replayed interview, so repeated scripts do not flatter the figure;
- buttons/s: the same interviews with choice questions answered by button (option id),
  the rest typed: the engine's own cost.

Targets (issue 3): compile 200 questions < 50 ms; > 20,000 answers/s.
Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flows.compiler import compile_program  # noqa: E402
from flows.engine import CompiledFlow  # noqa: E402
from flows.loader import builtin_flow_paths, load_text  # noqa: E402
from flows.schema import FlowDef  # noqa: E402

KINDS_CYCLE = ("single", "number", "text", "timeline", "yesno", "multi", "single", "text")


def generate_flow(n_questions: int = 200, n_params: int = 4) -> str:
    """YAML of a synthetic flow with `n_questions` questions of every scored kind.

    Every 10th question branches (`next:` with a condition), every 7th has a
    `skip_if:`; options carry synonyms in both languages, text questions keyword
    rules. Ends with contact capture.
    """
    out: list[str] = [
        "id: generated",
        "framework: GEN",
        "languages: [en, ru]",
        "title: {en: Generated, ru: Сгенерированный}",
        "parameters:",
    ]
    for p in range(n_params):
        out += [
            f"  - id: p{p}",
            f"    name: {{en: Parameter {p}, ru: Параметр {p}}}",
            "    max: 1000",
            "    min: -100",
            f"    next_action: {{en: Clarify parameter {p}., ru: Уточнить параметр {p}.}}",
        ]
    out.append("questions:")
    body = n_questions - 2
    for i in range(body):
        kind = KINDS_CYCLE[i % len(KINDS_CYCLE)]
        out += [
            f"  - id: q{i}",
            f"    parameter: p{i % n_params}",
            f"    kind: {kind}",
            f"    text: {{en: Question number {i}?, ru: Вопрос номер {i}?}}",
        ]
        if kind in ("single", "multi"):
            out.append("    options:")
            for o in range(4):
                out += [
                    f"      - id: o{o}",
                    f"        label: {{en: Answer {o} of {i}, ru: Ответ {o} к {i}}}",
                    f"        points: {o * 3}",
                    f"        synonyms: {{en: [alpha{o}x{i}, beta{o}y{i}],"
                    f" ru: [альфа{o}х{i}, бета{o}у{i}]}}",
                ]
        elif kind == "yesno":
            out += [
                "    options:",
                "      - {id: yes, label: {en: 'Yes', ru: 'Да'}, points: 5}",
                "      - {id: no, label: {en: 'No', ru: 'Нет'}, points: 0}",
            ]
        elif kind == "number":
            out += [
                "    ranges:",
                "      - {up_to: 10, points: 0}",
                "      - {up_to: 1000, points: 5}",
                "      - {points: -5}",
            ]
        elif kind == "timeline":
            out += [
                "    bands:",
                "      - {up_to: 31, points: 10}",
                "      - {up_to: 180, points: 5}",
                "      - {points: 0}",
            ]
        elif kind == "text":
            out += [
                "    rules:",
                "      - {id: fast, points: 5,",
                "         keywords: {en: [fast, quick, soon], ru: [быстро, скоро]}}",
                "      - {id: crm, points: 5,",
                "         keywords: {en: [crm, sales, funnel], ru: [crm, продажи, воронка]}}",
            ]
        if i % 7 == 3 and i > 0:
            out.append(f"    skip_if: {{answer: q{i - 1}, known: false}}")
        if i % 10 == 0 and i + 2 < body:
            prev_choice = f"q{i}" if kind in ("single", "multi", "yesno") else None
            cond = (
                f"{{answer: {prev_choice}, in: [o0]}}"
                if prev_choice and kind != "yesno"
                else f"{{score: p{i % n_params}, below: 0}}"
            )
            out += [
                "    next:",
                f"      - when: {cond}",
                f"        to: q{i + 2}",
                f"      - to: q{i + 1}",
            ]
    out += [
        "  - id: phone",
        "    kind: phone",
        "    text: {en: Your phone?, ru: Ваш телефон?}",
        "  - id: email",
        "    kind: email",
        "    text: {en: Your email?, ru: Ваш email?}",
        "texts:",
        "  reask: {en: 'Please pick one: {{ options }}', ru: 'Выберите: {{ options }}'}",
        "closing:",
        "  hot: {en: Thanks!, ru: Спасибо!}",
        "  warm: {en: Thanks!, ru: Спасибо!}",
        "  cold: {en: Thanks!, ru: Спасибо!}",
        "  disqualified: {en: Thanks!, ru: Спасибо!}",
    ]
    return "\n".join(out) + "\n"


_TYPED = {
    "number": ["about 30", "12", "5000", "50k", "около 200"],
    "timeline": ["in 2 weeks", "через месяц", "some day", "in 3 months", "через 2 недели"],
    "text": [
        "we need a crm for sales, fast",
        "хотим навести порядок в продажах",
        "not sure, something with the funnel",
        "just looking around",
    ],
    "yesno": ["yes", "нет", "sure", "да"],
    "phone": ["+44 20 7946 0958", "+7 916 123-45-67"],
    "email": ["anna@example.com", "ivan@example.ru"],
    "company": ["Acme Ltd"],
    "name": ["Anna"],
}


def typed_answer(compiled: CompiledFlow, qid: str, k: int, lang: str) -> str:
    """What a prospect might type for question `qid` (labels, synonyms, numbers, prose)."""
    qp = compiled.program.questions[qid]
    if qp.kind in ("single", "multi"):
        labels = qp.labels[lang]
        choice = k % 4
        if choice == 0:
            return str(1 + k % len(labels))  # the option's number
        if choice == 1:
            return labels[k % len(labels)][1].lower()  # the label, typed
        phrases = qp.match_table[k % len(qp.match_table)][1]
        if choice == 2:
            return phrases[-1]  # a synonym
        return f"well, I think {phrases[-1]} really"  # a synonym inside a sentence
    if qp.kind == "yesno":
        return _TYPED["yesno"][k % 4]
    if qp.kind == "text" and qp.rules:
        return _TYPED["text"][k % len(_TYPED["text"])]
    pool = _TYPED.get(qp.kind, ["fine"])
    return pool[k % len(pool)]


Input = str | tuple[str, str]  # typed text, or ("option", option id) for a button


def interview_inputs(
    compiled: CompiledFlow, lang: str, seed: int, *, buttons: bool = False
) -> tuple[list[Input], int]:
    """Play one interview; return the inputs (typed, or buttons for choice questions)."""
    state = compiled.start(lang).state
    inputs: list[Input] = []
    k = seed
    while not state.finished:
        view = compiled.question(state)
        if buttons and view is not None and view.options:
            item: Input = ("option", view.options[k % len(view.options)][0])
        elif not buttons and k % 13 == 5:
            item = "hmm, what?"  # a miss now and then: re-ask
        else:
            item = typed_answer(compiled, state.state, k, lang)
        inputs.append(item)
        state = _feed(compiled, state, item)
        k += 1
    return inputs, len(inputs)


def _feed(compiled: CompiledFlow, state, item: Input):
    if isinstance(item, tuple):
        return compiled.answer(state, option=item[1]).state
    return compiled.answer(state, item).state


def _text_caches():
    """The parsers' per-text caches (normalize, analyze): cleared before every replayed
    interview, so that a replay pays for matching like a new prospect would."""
    import flows.answers.text as text_mod

    return [f.cache_clear for f in vars(text_mod).values() if hasattr(f, "cache_clear")]


def _median_ms(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench_flow(name: str, text: str, rounds: int, seconds: float) -> dict[str, float]:
    flow: FlowDef = load_text(text, name)
    parse_ms = _median_ms(lambda: load_text(text, name), rounds)
    compile_ms = _median_ms(lambda: compile_program(flow), rounds)
    compiled = CompiledFlow(flow, compile_program(flow))
    t0 = time.perf_counter()
    compiled.warm()
    warm_ms = (time.perf_counter() - t0) * 1000

    typed = _replay(compiled, flow.languages, seconds, buttons=False)
    pressed = _replay(compiled, flow.languages, seconds, buttons=True)
    return {
        "questions": len(flow.questions),
        "parse_ms": parse_ms,
        "compile_ms": compile_ms,
        "warm_ms": warm_ms,
        "answers_per_s": typed[0],
        "interviews_per_s": typed[1],
        "buttons_per_s": pressed[0],
    }


def _replay(compiled: CompiledFlow, languages, seconds: float, *, buttons: bool):
    """Record 16 interviews, then replay them against the clock: (answers/s, interviews/s)."""
    scripts = []
    for seed in range(16):
        lang = languages[seed % len(languages)]
        inputs, _ = interview_inputs(compiled, lang, seed, buttons=buttons)
        scripts.append((lang, inputs))
    answers = 0
    interviews = 0
    clear = _text_caches()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for lang, inputs in scripts:
            for fn in clear:
                fn()
            state = compiled.start(lang).state
            for item in inputs:
                if state.finished:
                    break
                state = _feed(compiled, state, item)
                answers += 1
            compiled.result(state)
            interviews += 1
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - t0
    return answers / elapsed, interviews / elapsed


def calibrate_trigger(n: int = 20_000) -> float:
    """µs per bare `Event.trigger` on a 3-state machine: this CPU's speed for transitions
    (ENGINEERING.md measured about 110,000 steps/s, ~9 µs, on its machine)."""
    from transitions import Machine

    machine = Machine(model=None, states=["a", "b", "c"], initial="a", auto_transitions=False)
    machine.add_transition("next", "a", "b")
    event = machine.events["next"]

    class Cursor:
        __slots__ = ("state",)

    cursor = Cursor()
    t0 = time.perf_counter()
    for _ in range(n):
        cursor.state = "a"
        event.trigger(cursor)
    return (time.perf_counter() - t0) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter runs")
    ap.add_argument("--questions", type=int, default=200, help="size of the generated flow")
    args = ap.parse_args(argv)
    rounds = 5 if args.quick else 15
    seconds = 0.5 if args.quick else 2.0
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        core = "pinned to one core"
    except (AttributeError, OSError):
        core = "one thread"
    print(
        f"python {sys.version.split()[0]}, {core}; "
        f"median of {rounds} parses/compiles, {seconds:g}s of answers"
    )
    rows = []
    for fid, path in sorted(builtin_flow_paths().items()):
        rows.append((fid, bench_flow(str(path), path.read_text(encoding="utf-8"), rounds, seconds)))
    gen = generate_flow(args.questions)
    rows.append((f"generated-{args.questions}", bench_flow("generated.yaml", gen, rounds, seconds)))
    header = (
        f"{'flow':<16}{'questions':>10}{'parse ms':>10}{'compile ms':>12}{'warm ms':>9}"
        f"{'answers/s':>12}{'interviews/s':>14}{'buttons/s':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(
            f"{name:<16}{r['questions']:>10}{r['parse_ms']:>10.1f}{r['compile_ms']:>12.2f}{r['warm_ms']:>9.1f}"
            f"{r['answers_per_s']:>12,.0f}{r['interviews_per_s']:>14,.0f}{r['buttons_per_s']:>12,.0f}"
        )
    gen_row = rows[-1][1]
    print(
        f"calibration: a bare transitions step takes {calibrate_trigger():.1f} µs here "
        "(ENGINEERING.md: ~9 µs); every answer takes one or more"
    )
    print(
        f"targets: compile {args.questions} questions < 50 ms: {gen_row['compile_ms']:.1f} ms; "
        f"> 20,000 answers/s: {min(r['answers_per_s'] for _, r in rows):,.0f} (slowest flow)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
