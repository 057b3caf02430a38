"""The README's and docs' example commands run as written, so the documentation cannot rot.

A fenced block whose info string is ``bash example`` is an example: the blocks of one page run
in order, as one ``bash`` script (``set -euo pipefail``), from the repository's root, the way a
reader pastes them. Each page starts where ``make dev`` leaves a reader, without the UI: a
fresh copy of the sample ``adlake.yaml`` after ``adlake init`` (sample deliveries, secrets),
the API emulators running (``python -m adlake_tests.emulators``), and a Dagster instance folder
of the local profile in ``DAGSTER_HOME``. Nothing runs against the repository's own
``adlake.yaml`` or lake.

A ``bash server`` block is what a reader starts in a second terminal (a throwaway database, SFTP
server or object store from ``python -m adlake_tests.servers``): it is started first, from the
repository's root, and the examples run once it prints its ``ready`` line; it is stopped after.
Such a server writes the page's project to ``.adlake/try/<kind>/``, and the source the page
shows in its ``yaml`` block must be the one written there (ports aside), so the shown YAML
cannot drift from the YAML that ran.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.cli import main
from adlake_tests.conftest import REPO
from adlake_tests.servers._process import stop_group
from adlake_tests.test_dev_emulators import emulators, sample_project  # noqa: F401 (fixtures)

EXAMPLE = re.compile(r"^```bash example\n(.*?)^```", re.MULTILINE | re.DOTALL)
SERVER = re.compile(r"^```bash server\n(.*?)^```", re.MULTILINE | re.DOTALL)
YAML = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)
READY = re.compile(r"^ready: .*; project (?P<project>\S+) ", re.MULTILINE)
DOCS = REPO / "docs"
# one page per pattern of the issue that asked for them, each with a runnable example
PATTERN_PAGES = [
    "push", "api-pull", "saas", "databases", "sftp", "object-stores", "amc", "audiences",
    "publisher",
]  # fmt: skip
PAGE_SECONDS = 600
SERVER_START_SECONDS = 120
# where a try server listens differs on every start; the page shows a placeholder
PLACES = {"port", "endpoint"}


def examples(page: Path) -> list[str]:
    """The example blocks of a page, in order."""
    return EXAMPLE.findall(page.read_text(encoding="utf-8"))


def servers(page: Path) -> list[str]:
    """The server blocks of a page (commands a reader leaves running in another terminal)."""
    return SERVER.findall(page.read_text(encoding="utf-8"))


def shown_sources(page: Path) -> dict[str, Any]:
    """The sources of the page's yaml blocks, merged, without the keys saying where they listen."""
    sources: dict[str, Any] = {}
    for block in YAML.findall(page.read_text(encoding="utf-8")):
        document = yaml.safe_load(block) or {}
        sources |= document.get("sources") or {}
    return {name: _without_places(source) for name, source in sources.items()}


def _without_places(source: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in source.items() if key not in PLACES}


@contextmanager
def started(command: str, env: dict[str, str], log: Path) -> Iterator[Path]:
    """Run a server block in the background until it prints ``ready``; yield its project file."""
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"set -euo pipefail\n{command}"], cwd=REPO, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not (ready := READY.search(log.read_text())):
            assert process.poll() is None, f"`{command}` ended before ready:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"`{command}` not ready:\n{log.read_text()}"
            time.sleep(0.2)
        project = REPO / ready["project"]
        yield project
    finally:
        stop_group(process)
    shutil.rmtree(project.parent, ignore_errors=True)  # the try project lives in the checkout


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
    with ExitStack() as stack:
        projects = [
            stack.enter_context(started(command, env, tmp_path / f"server-{n}.log"))
            for n, command in enumerate(servers(page))
        ]
        for project in projects:
            written = yaml.safe_load(project.read_text())["sources"]
            ran = {name: _without_places(source) for name, source in written.items()}
            assert shown_sources(page) == ran, (
                f"{page.name}: the yaml block differs from the source the example ran "
                f"({project}); make them the same"
            )
        result = subprocess.run(
            ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=PAGE_SECONDS, check=False,
        )  # fmt: skip
    assert result.returncode == 0, (
        f"{page.name}: an example failed (exit {result.returncode})\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
