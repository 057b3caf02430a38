"""Workflow files: AMC SQL under a YAML header of ``--`` comment lines, and their one-line form.

A file ``amc/campaign_reach.sql`` looks like::

    -- workflow_id: campaign_reach
    -- description: Daily impressions and reach per campaign.
    -- window: day
    -- lag_days: 2
    -- schedule: "0 9 * * *"
    -- columns: {day: date, campaign: string, impressions: bigint, reach: bigint}
    -- primary_key: [day, campaign]
    -- date_column: day
    SELECT ...

The leading comment lines are the header (YAML once the ``--`` is removed); the rest is the SQL.
AMC wants the SQL on one line, so :func:`one_line` drops comments and folds whitespace outside
quoted strings before the SQL is sent; drift is judged on that form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adlake.config.errors import problem


def read_workflow(path: Path) -> dict[str, Any]:
    """The header fields of one workflow file plus ``sql`` and ``file``; bad YAML names the line."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        header.append(stripped[2:].removeprefix(" "))
    body = "\n".join(lines[len(header) :]).strip()
    try:
        fields = yaml.safe_load("\n".join(header)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (header line {mark.line + 1})" if mark else ""
        raise problem(
            f"{path.name}: the header is not YAML{where}: {getattr(exc, 'problem', exc)}",
            "write the header as '-- key: value' lines before the SQL",
            key="workflows_dir",
        ) from None
    if not isinstance(fields, dict):
        raise problem(
            f"{path.name}: the header must be '-- key: value' lines",
            "start the file with '-- workflow_id: <id>' and the other header keys",
            key="workflows_dir",
        )
    return {"workflow_id": path.stem, **fields, "sql": body, "file": str(path)}


def load_workflows(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.sql`` file of ``folder`` (sorted) by file stem; none if the folder is missing."""
    if not folder.is_dir():
        return {}
    return {path.stem: read_workflow(path) for path in sorted(folder.glob("*.sql"))}


def one_line(sql: str) -> str:
    """``sql`` without comments, its whitespace folded to single spaces outside quotes."""
    out: list[str] = []
    i, n = 0, len(sql)
    space = False
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch and (end + 1 >= n or sql[end + 1] != ch):
                    break
                end += 2 if sql[end] == ch else 1
            if space and out:
                out.append(" ")
            space = False
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        if sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline < 0 else newline
            space = True
            continue
        if sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = n if close < 0 else close + 2
            space = True
            continue
        if ch.isspace():
            space = True
            i += 1
            continue
        if space and out:
            out.append(" ")
        space = False
        out.append(ch)
        i += 1
    return "".join(out).rstrip(";").strip()
