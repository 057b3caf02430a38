"""The README's and docs' example commands run as written, so the documentation cannot rot.

A fenced block whose info string is ``bash example`` is an example: the blocks of one page run
in order, as one ``bash`` script (``set -euo pipefail``), from the repository's root, the way a
reader pastes them. Each page starts where ``make dev`` leaves a reader, without the UI: a
fresh copy of the sample ``adlake.yaml`` after ``adlake init`` (sample deliveries, secrets),
the API emulators running (``python -m adlake_tests.emulators``), and a Dagster instance folder
of the local profile in ``DAGSTER_HOME``. Nothing runs against the repository's own ``.adlake``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adlake.cli import main
from adlake_tests.conftest import REPO
from adlake_tests.test_dev_emulators import emulators, sample_project  # noqa: F401 (fixtures)

EXAMPLE = re.compile(r"^```bash example\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOCS = REPO / "docs"
# one page per pattern of the issue that asked for them, each with a runnable example
PATTERN_PAGES = ["push", "api-pull", "saas", "amc", "audiences", "publisher"]
PAGE_SECONDS = 600


def examples(page: Path) -> list[str]:
    """The example blocks of a page, in order."""
    return EXAMPLE.findall(page.read_text(encoding="utf-8"))


def pages_with_examples() -> list[Path]:
    return [p for p in [REPO / "README.md", *sorted(DOCS.glob("*.md"))] if examples(p)]


def uv_on_path(folder: Path) -> str:
    """A PATH on which ``uv`` runs, as the README's commands expect (make may use ``-m uv``)."""
    found = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local" / "bin"))
    shim = folder / "bin"
    shim.mkdir(exist_ok=True)
    program = (
        f'"{found}"' if found else f'"{getattr(sys, "_base_executable", sys.executable)}" -m uv'
    )
    (shim / "uv").write_text(f'#!/bin/sh\nexec {program} "$@"\n')
    (shim / "uv").chmod(0o755)
    return f"{shim}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.parametrize("name", PATTERN_PAGES)
def test_every_pattern_has_a_page_with_a_runnable_example(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.exists(), f"docs/{name}.md is missing"
    assert examples(page), f"docs/{name}.md has no ```bash example block"


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda p: p.name)
def test_the_examples_of_a_page_run_as_written(
    page: Path,
    sample_project: Path,  # noqa: F811
    emulators: subprocess.Popen[str],  # noqa: F811
    tmp_path: Path,
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    assert main(["init"]) == 0  # the sample deliveries; the emulators' secrets are kept
    env = {**os.environ, "DAGSTER_HOME": str(home), "PATH": uv_on_path(tmp_path)}
    script = "set -euo pipefail\n" + "\n".join(examples(page))
    result = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=PAGE_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        f"{page.name}: an example failed (exit {result.returncode})\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
