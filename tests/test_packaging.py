"""The package metadata promises what the README says (the wheel itself: `make wheel-check`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import rampup

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_base_install_is_what_the_command_needs(project: dict) -> None:
    assert _names(project["dependencies"]) == {"numpy", "array-api-compat", "click"}
    assert project["scripts"] == {"rampup": "rampup.cli:entry_point"}


def test_extras_are_named_for_what_they_install(project: dict) -> None:
    extras = project["optional-dependencies"]
    assert {"torch", "plot", "yaml", "cli", "demo", "all"} <= set(extras)
    assert _names(extras["torch"]) == {"torch"}
    assert _names(extras["plot"]) == {"matplotlib"}
    assert _names(extras["yaml"]) == {"pyyaml"}
    assert _names(extras["demo"]) >= {"torch", "matplotlib", "tqdm", "mnist1d"}
    users = set().union(*(_names(extras[e]) for e in ("torch", "plot", "yaml", "cli", "demo")))
    assert _names(extras["all"]) == users


def test_version_is_set_in_one_place(project: dict) -> None:
    assert "version" not in project and project["dynamic"] == ["version"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rampup.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", rampup.__version__)


def test_changelog_starts_at_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert rampup.__version__ in headings
    assert "Keep a Changelog" in text


def test_python_versions_agree(project: dict) -> None:
    low = re.fullmatch(r">=3\.(\d+)", project["requires-python"])
    assert low is not None
    classified = sorted(int(c.rsplit(".", 1)[1]) for c in project["classifiers"]
                        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c))
    assert classified[0] == int(low.group(1))
    assert classified == list(range(classified[0], classified[-1] + 1))
    assert sys.version_info[:2] >= (3, classified[0])
    assert "Typing :: Typed" in project["classifiers"]
    assert (ROOT / "src" / "rampup" / "py.typed").exists()


def test_import_loads_no_optional_package() -> None:
    code = ("import sys, rampup, rampup.plot, rampup._files; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'click', 'yaml', 'rich') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
