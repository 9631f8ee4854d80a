"""
The host-clash proof: Portico's wheel installs beside a host's own ``app``, ``domain``, ``ports``
and ``adapters`` and nothing collides.

The wheel is built from a copy of the source (pyproject, README, src/), so the worktree gets no
``build/`` or egg-info. A fresh venv (no system site-packages, so the editable portico of the
development venv is out of sight) receives the wheel and its dependencies from the package index
through the development venv's pip (``pip --python``). The host project of ``host_project/`` is
copied to a temporary folder and ``story.py`` is run from there: its top-level packages are the
host's, Portico's layers are ``portico.*`` from site-packages, and a lead, a payment link and a
signed webhook go through. The console script is run from the venv too.

About 10 s here (build ~3 s, install ~4 s with a warm pip cache, story and demo ~3 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


pytestmark = [pytest.mark.slow, pytest.mark.packaging, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
HOST_PROJECT = Path(__file__).resolve().parent / "host_project"
STEP_TIMEOUT = 240  # seconds for one build or install (a cold pip cache downloads every wheel)


def _env() -> dict[str, str]:
    """This environment without anything that would point Python at the worktree or a venv."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PORTICO_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Portico's wheel, built from a pristine copy of the source."""
    source = tmp_path_factory.mktemp("source")
    shutil.copy2(ROOT / "pyproject.toml", source)
    shutil.copy2(ROOT / "README.md", source)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", source, "-w", dist, cwd=source
    )
    (built,) = dist.glob("portico-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv's interpreter, with the wheel and its dependencies installed."""
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--clear", "--without-pip", venv, cwd=venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, cwd=venv)
    return python


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """The host project, copied to a folder of its own."""
    folder = tmp_path / "host"
    shutil.copytree(HOST_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_only_portico_and_its_metadata(wheel: Path) -> None:
    """Every file is under portico/ or portico-*.dist-info/; py.typed ships; no src/, no tests."""
    names = _names(wheel)
    top = {name.split("/", 1)[0] for name in names}
    (info,) = top - {"portico"}
    assert info.startswith("portico-"), top
    assert info.endswith(".dist-info"), top
    assert "portico/py.typed" in names
    assert "portico/__init__.py" in names


def test_every_module_under_src_is_in_the_wheel(wheel: Path) -> None:
    """The explicit package list cannot drift: every package (its __init__) and module ships."""
    shipped = set(_names(wheel))
    expected = {
        "portico/" + path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert "portico/adapters/webhooks/__init__.py" in expected
    missing = sorted(expected - shipped)
    assert missing == [], f"not in the wheel (add them to [tool.setuptools] packages): {missing}"


def test_the_console_templates_and_css_are_in_the_wheel(wheel: Path) -> None:
    """The console's package data ships: every template and the stylesheet it links."""
    shipped = set(_names(wheel))
    console = ROOT / "src" / "app" / "entrypoints" / "console"
    expected = {
        "portico/" + path.relative_to(ROOT / "src").as_posix()
        for path in [*console.glob("templates/*.html"), *console.glob("static/*.css")]
    }
    assert "portico/app/entrypoints/console/static/console.css" in expected
    missing = sorted(expected - shipped)
    assert missing == [], f"not in the wheel (add them to package-data): {missing}"


def test_host_packages_and_portico_import_side_by_side(venv_python: Path, host: Path) -> None:
    """From the host's folder: its app/domain/ports/adapters, portico.*, and a story that works."""
    done = _run(venv_python, "story.py", cwd=host)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(report["layout"]["app"]) == (host / "app").resolve()
    assert Path(report["layout"]["portico"]).parent.name == "site-packages"
    assert report["story"]["webhook"]["processed"] == 1
    assert report["story"]["receipts"] == 1
    assert report["story"]["appointment"] == "appt-1"


def test_the_console_script_runs_from_the_venv(venv_python: Path, host: Path) -> None:
    """``portico --help`` lists the commands; ``portico demo`` tells the whole story."""
    portico = venv_python.parent / "portico"
    helped = _run(portico, "--help", cwd=host)
    assert "demo" in helped.stdout
    assert "serve" in helped.stdout
    demo = _run(portico, "demo", cwd=host)
    assert "Done:" in demo.stdout
    assert sorted(p.name for p in host.iterdir()) == sorted(
        p.name for p in HOST_PROJECT.iterdir() if p.name != "__pycache__"
    ), "the demo left files behind"
