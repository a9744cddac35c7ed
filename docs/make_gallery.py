"""Write the schedule gallery, docs/schedules.md and one figure per shape in docs/img/.

    python docs/make_gallery.py              # or: make gallery
    python docs/make_gallery.py --out FOLDER # somewhere else (FOLDER/schedules.md, FOLDER/img/)

Everything on the page comes from the library when this runs: each figure is drawn by
``rampup.plot.save_figure`` from the schedule the shown code line builds, each formula is the
class docstring, each option list is read from the dataclass fields (or the function signature),
and the table of names is ``rampup.REGISTRY``. A shape added to the library without a section here
stops the script, so the gallery cannot silently fall behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rampup
from rampup.plot import Curve, save_figure
from rampup.schedules import SHAPES, Schedule
from rampup.schedules.warmup import WARMUP_CURVES

DOCS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    """One section: a code line that builds a schedule, and what to document with it."""

    slug: str  # the figure's file name and the section's anchor
    title: str
    code: str  # a Python expression, evaluated with ``rampup`` in scope
    total: int  # the steps to draw
    documents: Any  # the class or function whose docstring and options are shown
    curve: str | None = None  # for a Warmup curve: show only that curve's formula line
    marks: tuple[int, ...] = ()  # steps whose values are quoted (default: 0, the middle, the end)

    def build(self) -> Schedule:
        schedule = eval(self.code, {"rampup": rampup})  # the exact line printed on the page
        if not isinstance(schedule, Schedule):
            raise TypeError(f"{self.code} did not build a schedule")
        return schedule


def _warmups() -> list[Example]:
    curves = [
        Example(f"warmup-{curve}", f"Warmup, curve {curve!r}",
                f"rampup.Warmup(steps=100, curve={curve!r})", 150, rampup.Warmup, curve=curve,
                marks=(0, 49, 99, 100))
        for curve in WARMUP_CURVES
    ]
    return [
        *curves,
        Example("gradual-warmup", "gradual_warmup (Goyal et al.)",
                "rampup.gradual_warmup(100, factor=8.0)", 150, rampup.gradual_warmup,
                marks=(0, 50, 100)),
        Example("untuned-warmup", "untuned_warmup (Ma & Yarats)",
                "rampup.untuned_warmup(beta2=0.999)", 3000, rampup.untuned_warmup,
                marks=(0, 999, 1999, 2000)),
    ]


MAIN = [
    Example("constant", "Constant", "rampup.Constant(value=0.5)", 1000, rampup.Constant),
    Example("linear", "Linear", "rampup.Linear(steps=1000, min_lr_ratio=0.1)", 1000, rampup.Linear),
    Example("cosine", "Cosine", "rampup.Cosine(steps=1000, min_lr_ratio=0.1)", 1000, rampup.Cosine),
    Example("cosine-restarts", "CosineRestarts", "rampup.CosineRestarts(steps=1000, cycles=3)", 1000,
            rampup.CosineRestarts),
    Example("sgdr", "SGDR",
            "rampup.SGDR(period_steps=100, period_mult=2.0, peak_decay=0.8, min_lr_ratio=0.05, max_cycles=4)",
            1600,
            rampup.SGDR),
    Example("polynomial", "Polynomial", "rampup.Polynomial(steps=1000, power=2.0, min_lr_ratio=0.05)",
            1000, rampup.Polynomial),
    Example("sqrt-decay", "SqrtDecay", "rampup.SqrtDecay(steps=1000)", 1000, rampup.SqrtDecay),
    Example("step", "Step", "rampup.Step(step_size=250, gamma=0.5)", 1000, rampup.Step),
    Example("multistep", "MultiStep", "rampup.MultiStep(milestones=(300, 600, 800), gamma=0.3)", 1000,
            rampup.MultiStep),
    Example("exponential", "Exponential", "rampup.Exponential(gamma=0.997)", 1000, rampup.Exponential),
    Example("inverse-sqrt", "InverseSqrt", "rampup.InverseSqrt(timescale=100)", 1000,
            rampup.InverseSqrt),
    Example("one-cycle", "OneCycle", "rampup.OneCycle(steps=1000)", 1000, rampup.OneCycle),
    Example("triangular", "Triangular",
            "rampup.Triangular(step_size_up=100, step_size_down=150, mode='triangular2')", 1000,
            rampup.Triangular),
]

COMBINATORS = [
    Example("with-warmup", "with_warmup",
            "rampup.with_warmup(rampup.Cosine(steps=900, min_lr_ratio=0.1), 100)", 1000,
            rampup.with_warmup),
    Example("join", "join (Join)",
            "rampup.join([rampup.Warmup(steps=100), rampup.Constant(), rampup.SqrtDecay(steps=200)], "
            "[100, 800])", 1000, rampup.Join),
    Example("multiply", "multiply (Multiply)",
            "rampup.multiply(rampup.Warmup(steps=200, curve='cosine'), "
            "rampup.Triangular(step_size_up=50, min_lr_ratio=0.5))", 600, rampup.Multiply),
    Example("clamp", "clamp (Clamp)",
            "rampup.clamp(rampup.Cosine(steps=1000, cycles=1.5), minimum=0.2, maximum=0.9)", 1000,
            rampup.Clamp),
]


def groups() -> list[tuple[str, str, list[Example]]]:
    """(heading, introduction, sections) for each part of the page."""
    warmup_intro = (
        "Every warmup curve is one class, `rampup.Warmup`; `curve` picks the formula. "
        "`rampup.with_warmup(main, steps, curve=...)` puts one in front of any schedule, and "
        "every name in `rampup.schedule` takes `warmup_curve=`.\n\n" + _doc(rampup.Warmup)
    )
    return [
        ("Warmup", warmup_intro, _warmups()),
        ("Main and decay shapes", "Each starts at 1 (the peak) on its own step 0 unless stated; "
         "use `rampup.with_warmup` to put a warmup in front.", MAIN),
        ("Combinators", "A combination is itself a schedule: it nests, plots and serialises like "
         "any shape.", COMBINATORS),
    ]


def check_coverage(sections: Sequence[Example]) -> None:
    """Stop if a shape of the library has no section here."""
    documented: set[Any] = {example.documents for example in sections}
    built = {type(example.build()) for example in sections}
    missing = sorted(cls.__name__ for cls in SHAPES.values() if cls not in documented | built)
    if missing:
        raise SystemExit(f"make_gallery: no gallery section for {', '.join(missing)}; add one")
    uncovered = [c for c in WARMUP_CURVES if not any(e.curve == c for e in sections)]
    if uncovered:
        raise SystemExit(f"make_gallery: no gallery section for warmup curve(s) {uncovered}")


# -- text -------------------------------------------------------------------------------------

_ROLE = re.compile(r":(?:func|class|meth|attr):`~?([^`]+)`")


def _doc(obj: Any) -> str:
    text = inspect.getdoc(obj)
    if not text:
        raise SystemExit(f"make_gallery: {obj.__qualname__} has no docstring")
    text, _, examples = text.partition("\nExamples:\n")
    text = _ROLE.sub(r"`\1`", text.rstrip())
    if examples:  # the doctests (run by the test suite), shown as a code block
        text += "\n\nExamples:\n\n```python\n" + textwrap.dedent(examples).strip("\n") + "\n```"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def options_table(obj: Any) -> str:
    """The options of a schedule class (its dataclass fields) or a function (its signature)."""
    rows: list[tuple[str, str, str]] = []
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        for field in dataclasses.fields(obj):
            if not field.init:
                continue
            if field.default is not dataclasses.MISSING:
                default = _code(repr(field.default))
            elif field.default_factory is not dataclasses.MISSING:
                default = _code(repr(field.default_factory()))
            else:
                default = "required"
            rows.append((field.name, str(field.type), default))
    else:
        for parameter in inspect.signature(obj).parameters.values():
            name = ("*" if parameter.kind is parameter.VAR_POSITIONAL else "") + parameter.name
            annotation = "" if parameter.annotation is parameter.empty else str(parameter.annotation)
            default = "required" if parameter.default is parameter.empty else _code(repr(parameter.default))
            if parameter.kind is parameter.VAR_POSITIONAL:
                default = "one or more"
            rows.append((name, annotation, default))
    lines = ["| option | type | default |", "|---|---|---|"]
    lines += [f"| `{name}` | {_code(kind) if kind else ''} | {default} |" for name, kind, default in rows]
    return "\n".join(lines)


def curve_formula(curve: str) -> str:
    """The line of Warmup's docstring that gives this curve's formula."""
    for line in _doc(rampup.Warmup).splitlines():
        match = re.match(rf"-\s*``{re.escape(curve)}``:\s*(.+)", line.strip())
        if match:
            return f"`{curve}`: `{' '.join(match.group(1).split())}`"
    raise SystemExit(f"make_gallery: Warmup's docstring gives no formula for curve {curve!r}")


def _values(schedule: Schedule, example: Example) -> str:
    steps = example.marks or sorted({0, example.total // 2, example.total})
    return ", ".join(f"`s({step}) = {schedule(step):.6g}`" for step in steps)


def section(example: Example, schedule: Schedule, image: str) -> str:
    parts = [
        f"### {example.title}",
        f'<a id="{example.slug}"></a>',
        f"```python\ns = {example.code}\n```",
        f"![{example.title}]({image})",
        f"{schedule.label()}: {_values(schedule, example)}.",
    ]
    if example.curve is not None:
        parts.append("Formula (from `rampup.Warmup`; options below): " + curve_formula(example.curve))
    else:
        parts.append(_doc(example.documents))
    name = getattr(example.documents, "__name__", str(example.documents))
    parts.append(f"Options of `rampup.{name}`:\n\n{options_table(example.documents)}")
    return "\n\n".join(parts)


def names_table() -> str:
    lines = [
        "| name | from | what it does | options (defaults) | `warmup_*` options | needs `total_steps` |",
        "|---|---|---|---|---|---|",
    ]
    for name in rampup.names():
        entry = rampup.REGISTRY[name]
        options = ", ".join(f"`{_cell(f'{k}={v!r}')}`" for k, v in entry.options.items()) or "-"
        lines.append(
            f"| `{name}` | {'transformers' if entry.transformers else 'rampup'} | "
            f"{_cell(entry.summary)} | {options} | {'yes' if entry.warmup else 'no'} | "
            f"{'yes' if entry.needs_total else 'no'} |"
        )
    return "\n".join(lines)


# -- the page ---------------------------------------------------------------------------------


def build_gallery(out: Path) -> list[Path]:
    """Write ``out/schedules.md`` and ``out/img/*.png``; returns the files written."""
    parts = groups()
    sections = [example for _, _, examples in parts for example in examples]
    slugs = [example.slug for example in sections]
    if len(set(slugs)) != len(slugs):
        raise SystemExit("make_gallery: two sections share a slug")
    check_coverage(sections)
    images = out / "img"
    written: list[Path] = []
    page = [
        "# Schedule gallery",
        "<!-- Generated by docs/make_gallery.py (make gallery) from the library itself; "
        "do not edit by hand. -->",
        "Every figure shows the multiplier of the peak learning rate against the optimizer step, "
        "as the code line above it computes it. `s(step)` values are exact outputs of the same "
        "schedule.",
        "## Contents",
        "\n".join(
            f"- {heading}: " + ", ".join(f"[{e.title}](#{e.slug})" for e in examples)
            for heading, _, examples in parts
        ) + "\n- [Schedules by name](#by-name)",
    ]
    for heading, intro, examples in parts:
        page += [f"## {heading}", intro]
        for example in examples:
            schedule = example.build()
            path = save_figure([Curve(example.title, schedule)], example.total,
                               images / f"{example.slug}.png", title=example.code.replace("rampup.", ""))
            written.append(path)
            page.append(section(example, schedule, f"img/{example.slug}.png"))
    page += [
        "## Schedules by name",
        '<a id="by-name"></a>',
        "`rampup.schedule(name, warmup_steps=..., total_steps=..., **options)` and "
        "`rampup plot NAME` accept these names. Every name with a warmup also takes "
        "`warmup_curve`, `warmup_start` and `warmup_endpoints`.",
        names_table(),
    ]
    markdown = out / "schedules.md"
    markdown.write_text("\n\n".join(page) + "\n", encoding="utf-8")
    written.append(markdown)
    stale = sorted(p.name for p in images.glob("*.png") if p not in written)
    if stale:
        print(f"note: {images} also holds figures no section uses: {', '.join(stale)}", file=sys.stderr)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DOCS,
                        help="folder for schedules.md and img/ (default: the docs folder)")
    args = parser.parse_args(argv)
    written = build_gallery(args.out)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({size / 1e6:.2f} MB) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
