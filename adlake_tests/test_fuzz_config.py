"""Random mutations of the sample adlake.yaml give a clear config error, never a traceback.

Hypothesis mutates the sample document: a key deleted, misspelled or added; a value replaced by
one of another type or out of range; a list emptied. Each mutated file is loaded as ``dagster
dev`` loads it, and then turned into Definitions. Either it is accepted, or it is refused with a
:class:`ConfigError` that names the file and says what to fix. Any other exception is a bug.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adlake.config import ConfigError, load_config
from adlake_tests.conftest import SAMPLE_CONFIG, link_examples

SAMPLE = yaml.safe_load(SAMPLE_CONFIG.read_text())
ODD_VALUES = [
    None, "", " ", "nonsense", "2026-13-45", "*/bogus", -1, 0, 10**12, 1.5, True, [], {},
    ["x"], {"x": 1}, "s3://", "../../etc/passwd", "ünïcödé", "{cursor}", "$.records[",
]  # fmt: skip
CASES = int(os.environ.get("ADLAKE_FUZZ_CONFIG_CASES", "150"))
SEEN = {"accepted": 0, "refused": 0}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of the document, depth first (list items by index)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


PATHS = list(paths(SAMPLE))


def parent_of(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """The sample with one to three mutations, and a description of each."""
    document = copy.deepcopy(SAMPLE)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        live = list(paths(document))
        path = draw(st.sampled_from(live or PATHS[:1]))
        parent, last = parent_of(document, path), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "misspell", "add", "empty"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "misspell" and isinstance(parent, dict):
            parent[f"{last}x" if draw(st.booleans()) else str(last)[:-1] or "_"] = parent.pop(last)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "Kind", "sources", "shedule"]))] = 1
        elif action == "empty" and isinstance(parent[last], dict | list):
            parent[last] = type(parent[last])()
        done.append(f"{action} {'.'.join(map(str, path))}")
    return document, done


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """One project folder reused by every case (hypothesis runs many cases per test)."""
    with tempfile.TemporaryDirectory(prefix="adlake-fuzz-config-") as name:
        link_examples(Path(name))
        yield Path(name)


@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutated())
def test_a_mutated_config_is_accepted_or_refused_with_the_fix(
    case: tuple[dict[str, Any], list[str]], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document, mutations = case
    file = folder / "adlake.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    monkeypatch.setenv("ADLAKE_CONFIG", str(file))
    try:
        load_config(file)
        import adlake.definitions

        adlake.definitions.defs()
    except ConfigError as error:
        SEEN["refused"] += 1
        message = str(error)
        assert message.startswith(str(file)), (mutations, message)
        assert "Fix" in message or "fix" in message or "allowed" in message, (mutations, message)
        assert "Traceback" not in message
    else:
        SEEN["accepted"] += 1


def test_the_cases_that_ran_are_reported() -> None:
    """Runs after the property (file order): how many mutations were accepted and refused."""
    print(f"\nconfig fuzz: {SEEN['accepted'] + SEEN['refused']} cases, {SEEN}")
    assert SEEN["refused"] > 0
