"""The layers stay visible: library code never imports Dagster, and nothing in adlake prints."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from adlake_tests.conftest import REPO

PACKAGE = REPO / "adlake"
# plain Python that takes arguments and returns or streams data: testable and reusable alone
LIBRARY = [
    "connectors",
    "destinations",
    "lake",
    "transform",
    "catalog",
    "config",
    "pulls",
    "databases",
    "segments",
    "saas",
    "streams",
    "aggregates",
]
LIBRARY_EXTRA = ["notify", "iam.py", "progress.py"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def library_files() -> list[Path]:
    files: list[Path] = []
    for entry in LIBRARY + LIBRARY_EXTRA:
        path = PACKAGE / entry
        if path.is_dir():
            files += sorted(path.rglob("*.py"))
        elif path.is_file():
            files.append(path)
    return files


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module a file imports: third-party names as written, adlake modules resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
    return found


def is_dagster(name: str) -> bool:
    top = name.split(".")[0]
    return top == "dagster" or top.startswith("dagster_")


def test_library_layers_exist() -> None:
    present = [p.relative_to(PACKAGE).parts[0] for p in library_files()]
    for required in ("lake", "transform", "catalog", "config"):
        assert required in present


@pytest.mark.parametrize("path", library_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_module_never_reaches_dagster(path: Path) -> None:
    """No import of dagster, directly or through another adlake module."""
    modules = all_modules()
    seen: set[str] = set()
    chain: dict[str, str] = {}
    todo = [module_name(path)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in imports_of(modules[current], modules):
            if is_dagster(imported):
                route = [current]
                while route[-1] in chain:
                    route.append(chain[route[-1]])
                pytest.fail(f"{' <- '.join(route)} imports {imported}")
            if imported in modules and imported not in seen:
                chain.setdefault(imported, current)
                todo.append(imported)


def test_importing_the_library_loads_no_dagster() -> None:
    names = sorted(module_name(p) for p in library_files())
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster' "
        "or m.startswith('dagster_'))\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_no_print_in_adlake() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("print", "breakpoint")
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, "use logging or return values instead of print: " + ", ".join(offenders)
