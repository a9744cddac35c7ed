"""docs/make_gallery.py: every shape gets a section with its figure, formula, options and code."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import rampup
from rampup import plot as rplot
from rampup.schedules import SHAPES
from rampup.schedules.warmup import WARMUP_CURVES

pytest.importorskip("matplotlib")

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_gallery.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_gallery", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Path, str]:
    module = _load()
    out = tmp_path_factory.mktemp("gallery")
    assert module.main(["--out", str(out)]) == 0
    return module, out, (out / "schedules.md").read_text(encoding="utf-8")


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^### ", markdown, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0]: part for part in parts}


def test_every_shape_and_curve_has_a_section(gallery: tuple[ModuleType, Path, str]) -> None:
    module, _, markdown = gallery
    examples = [e for _, _, group in module.groups() for e in group]
    documented = {e.documents for e in examples} | {type(e.build()) for e in examples}
    assert set(SHAPES.values()) <= documented
    assert {e.curve for e in examples} >= set(WARMUP_CURVES)
    for function in (rampup.gradual_warmup, rampup.untuned_warmup, rampup.with_warmup):
        assert function in documented
    titles = _sections(markdown)
    assert len(titles) == len(examples)
    for example in examples:
        assert example.title in titles


def test_sections_hold_figure_code_formula_and_options(gallery: tuple[ModuleType, Path, str]) -> None:
    module, out, markdown = gallery
    sections = _sections(markdown)
    for _, _, group in module.groups():
        for example in group:
            text = sections[example.title]
            image = out / "img" / f"{example.slug}.png"
            assert f"](img/{example.slug}.png)" in text
            assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), image
            assert f"s = {example.code}\n" in text
            # The code line on the page builds exactly the schedule the figure shows.
            assert eval(example.code, {"rampup": rampup}) == example.build()
            obj = example.documents
            if example.curve is None:
                assert module._doc(obj).splitlines()[0] in text
            else:
                assert f"`{example.curve}`: `" in text
            if dataclasses.is_dataclass(obj):
                names = [f.name for f in dataclasses.fields(obj)]
            else:
                names = list(inspect.signature(obj).parameters)
            for name in names:
                assert re.search(rf"^\| `\*?{re.escape(name)}` \|", text, re.MULTILINE), (example.title, name)


def test_figures_are_small_and_sized_as_plot_draws_them(gallery: tuple[ModuleType, Path, str]) -> None:
    import matplotlib.image

    _, out, _ = gallery
    images = sorted((out / "img").glob("*.png"))
    assert sum(p.stat().st_size for p in images) < 3_000_000
    height, width = matplotlib.image.imread(images[0]).shape[:2]
    assert (width, height) == (round(rplot.FIGURE_SIZE[0] * rplot.FIGURE_DPI),
                               round(rplot.FIGURE_SIZE[1] * rplot.FIGURE_DPI))


def test_names_table_lists_every_name(gallery: tuple[ModuleType, Path, str]) -> None:
    _, _, markdown = gallery
    table = markdown[markdown.index("## Schedules by name"):]
    for name in rampup.names():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert rampup.REGISTRY[name].summary.replace("|", "\\|") in row
        for option in rampup.REGISTRY[name].options:
            assert f"`{option}=" in row


def test_contents_links_resolve(gallery: tuple[ModuleType, Path, str]) -> None:
    _, _, markdown = gallery
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    links = re.findall(r"\]\(#([^)]+)\)", markdown)
    assert links and set(links) <= anchors
