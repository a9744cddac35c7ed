"""The documentation: the docstrings' examples run, the generated pages say what their sources
say (README's demo summary and the demo report from the run's results.json, the command line
reference from the click commands, the benchmarks from latest.json), and the site checker finds
what a reader would find broken. `make docs` builds the site itself (mkdocs, warnings as errors)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import rampup

ROOT = Path(__file__).resolve().parents[1]

# Modules whose docstrings carry runnable examples; each example's expected output was worked out
# from the formula in the same docstring, by hand.
DOCTESTED = ["rampup.schedules.warmup", "rampup.schedules.decay", "rampup.schedules.cyclic",
             "rampup.schedules.compose", "rampup.names", "rampup.config", "rampup.durations",
             "rampup.schedules.base", "rampup.adaptive.clock", "rampup.adaptive.stability",
             "rampup.summary", "rampup.torch.hf", "rampup.torch.scheduler", "rampup.torch.gradual",
             "rampup.torch.greedy", "rampup.torch.wrap", "rampup.torch.groups",
             "rampup.torch.lr_finder", "rampup.torch.critical"]


def _script(name: str) -> ModuleType:
    path = ROOT / "docs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples_run(name: str) -> None:
    if name.startswith("rampup.torch"):
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{name} has no examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0, "".join(report)


def test_public_schedules_have_examples() -> None:
    documented = [
        rampup.Warmup, rampup.Constant, rampup.Linear, rampup.Cosine, rampup.CosineRestarts,
        rampup.Polynomial, rampup.SqrtDecay, rampup.Step, rampup.MultiStep, rampup.Exponential,
        rampup.InverseSqrt, rampup.SGDR, rampup.OneCycle, rampup.Triangular, rampup.Join,
        rampup.Multiply, rampup.Clamp, rampup.join, rampup.multiply, rampup.clamp, rampup.with_warmup,
        rampup.gradual_warmup, rampup.untuned_warmup, rampup.untuned_warmup_steps,
        rampup.one_cycle_momentum, rampup.schedule, rampup.names, rampup.from_dict, rampup.to_json,
        rampup.from_json, rampup.to_yaml, rampup.resolve_duration, rampup.training_steps,
        rampup.linear_scaling, rampup.sqrt_scaling, rampup.Schedule, rampup.AdaptiveWarmup,
        rampup.StabilityRule, rampup.TrainingSteps, rampup.describe, rampup.from_yaml, rampup.save,
        rampup.load,
    ]
    missing = [obj.__name__ for obj in documented if ">>> " not in (obj.__doc__ or "")]
    assert not missing


def test_public_torch_names_have_examples() -> None:
    pytest.importorskip("torch")
    import rampup.torch as rt

    skipped = {"TYPE_TO_SCHEDULER_FUNCTION", "with_warmup", "find_lr_lightning", "find_lr_trainer"}
    missing = [name for name in rt.__all__
               if name not in skipped and ">>> " not in (getattr(rt, name).__doc__ or "")]
    assert not missing


# --- the demo: README's summary and the committed report follow from the run's results.json -------

@pytest.fixture(scope="module")
def demo_results() -> dict:
    return json.loads((ROOT / "docs" / "demo" / "results.json").read_text(encoding="utf-8"))


def test_demo_results_are_a_full_run(demo_results: dict) -> None:
    from rampup.demo.experiments import EXPERIMENTS

    assert demo_results["quick"] is False
    assert set(demo_results["experiments"]) == set(EXPERIMENTS)
    for name, result in demo_results["experiments"].items():
        sizes = EXPERIMENTS[name]().sizes
        for variant in result["variants"].values():
            assert variant["seeds"] == sizes.seeds
            # --steps counts the large-batch runs; the small-batch baseline takes more, same epochs
            assert all(seed["steps"] >= sizes.steps for seed in variant["per_seed"])


def test_readme_demo_summary_is_made_from_results(demo_results: dict) -> None:
    gen = _script("gen_pages")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    summary = gen.demo_summary(demo_results)
    assert summary in readme
    # Each line quotes numbers of results.json, computed here from the per-variant means.
    lb = demo_results["experiments"]["large_batch"]["variants"]
    for key in ("small_batch", "no_warmup", "gradual_warmup"):
        assert f"{lb[key]['final_val_accuracy']:.1%}" in summary
    lm = demo_results["experiments"]["transformer"]["variants"]
    for key in ("no_warmup", "linear_warmup"):
        if lm[key]["final_train_loss"] is not None:
            assert f"{lm[key]['final_train_loss']:.3f}" in summary
    assert demo_results["machine"] in summary and demo_results["command"] in summary


def test_committed_demo_report_is_what_the_results_give(demo_results: dict, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from rampup.demo.report import write_report

    write_report(demo_results, tmp_path, demo_results["command"])
    committed = (ROOT / "docs" / "demo" / "report.md").read_text(encoding="utf-8")
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == committed
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", committed):
        assert (ROOT / "docs" / "demo" / image).read_bytes().startswith(b"\x89PNG")


# --- generated pages ----------------------------------------------------------------------------------

def test_cli_reference_lists_every_command_and_option() -> None:
    from rampup.cli import cli

    page = _script("gen_pages").cli_reference()
    runner = CliRunner()
    seen = 0
    for name in cli.commands:
        assert f"## rampup {name}\n" in page
        section = page.split(f"## rampup {name}\n", 1)[1].split("\n## ", 1)[0]
        shown = runner.invoke(cli, [name, "--help"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        # Every option --help shows (the oracle: click's own help text) is in the reference.
        options = {o for o in re.findall(r"^\s+((?:-\w, )?--[\w-]+)", shown.output, re.MULTILINE)
                   if not o.endswith("--help")}  # every command's, stated once on the page
        seen += len(options)
        for option in options:
            for spelling in option.split(", "):
                assert f"`{spelling}`" in section, (name, spelling)
    assert seen > 40  # the reading of --help found the options (list has none)


def test_benchmarks_page_shows_latest_json() -> None:
    pytest.importorskip("torch")
    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text(encoding="utf-8"))
    page = _script("gen_pages").benchmarks_page(latest)
    assert latest["machine"] in page
    for line in latest["targets"]:
        assert f"- {line}" in page
    for table in latest["per_step"].values():
        for contender, seconds in table["1"].items():
            assert f"| {contender} | {seconds * 1e6:.2f} us" in page


def test_home_page_links_stay_in_the_repository() -> None:
    gen = _script("gen_pages")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = gen.home_page(readme)
    for target in re.findall(r"\]\(([^)\s]+)\)", home):
        assert "://" not in target and not target.startswith(("/", "..")), target
        path = target.split("#")[0]
        if not path.startswith("generated/"):
            assert (ROOT / "docs" / path).exists(), target
    for target in re.findall(r"\]\(([^)\s#]+)", readme):  # and README's own, on a repository page
        assert (ROOT / target).exists(), target
    with pytest.raises(SystemExit, match="does not hold"):
        gen.home_page("[elsewhere](../shared/notes.md)")


def test_changelog_page_keeps_no_link_to_another_host() -> None:
    gen = _script("gen_pages")
    text = gen.local_only("See [Keep a Changelog](https://keepachangelog.com/).\n\n"
                          "## [0.1.0]\n\n[0.1.0]: https://example.invalid/tag\n[local]: docs/x.md\n")
    assert "https://" not in text and "See Keep a Changelog." in text and "[local]: docs/x.md" in text


# --- the site checker ---------------------------------------------------------------------------------

def test_site_checker_finds_broken_links_images_and_outside_links(tmp_path: Path) -> None:
    check = _script("check_site")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "index.html").write_text(
        '<a href="page.html#here">ok</a><img src="img/a.png"><a href="#top" id="top">top</a>')
    (tmp_path / "page.html").write_text('<h2 id="here">x</h2>')
    assert check.check_site(tmp_path)[0] == []
    (tmp_path / "page.html").write_text(
        '<img src="img/missing.png"><a href="index.html#nowhere">x</a>'
        '<a href="https://example.com/">out</a><a href="../../up.html">up</a>'
        '<link href="/assets/x.css" rel="stylesheet">')
    problems = "\n".join(check.check_site(tmp_path)[0])
    assert "img/missing.png: no such file" in problems
    assert "no id 'nowhere'" in problems
    assert "points outside the site: https://example.com/" in problems
    assert "leaves the site: ../../up.html" in problems
    assert "absolute path" in problems
