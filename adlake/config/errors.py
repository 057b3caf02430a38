"""Turning configuration mistakes into messages a person can act on without reading code.

Every problem is reported as ``file: dotted.key: value: what is wrong; allowed values. Fix: ...``
(dlt's config errors are the model). The models of :mod:`adlake.config` raise :func:`problem`
from their validators so that a rule checked on a whole model still points at the key to change.
"""

from __future__ import annotations

import difflib
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

PROBLEM = "adlake_config"
_UNSET = object()
# keys whose values would be secrets if someone typed one into the file (names are fine)
_SECRET_KEYS = re.compile(r"(password|passwd|token|api_key|key_value|secret_value|credential)")
_TYPE_WORDS = {
    "int": "a whole number such as 2",
    "bool": "true or false",
    "dict": "a mapping of keys (key: value lines)",
    "model": "a mapping of keys (key: value lines)",
    "list": "a list such as [a, b]",
    "string": "text (put it in quotes)",
    "float": "a number",
}


def problem(message: str, fix: str, key: str = "", value: Any = _UNSET) -> PydanticCustomError:
    """A validation error naming the key below the model that is wrong, its value and the fix.

    A model-level validator sees the whole model, so pydantic would point at the model; ``key``
    (dotted, relative to the model) makes the message point at the key to change instead.
    """
    context = {"message": message, "fix": fix, "key": key}
    if value is not _UNSET:
        context["value"] = value
    return PydanticCustomError(PROBLEM, "{message}", context)


def did_you_mean(value: object, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def format_validation_error(file: Path, exc: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem: ``dotted.key: value: problem; allowed. Fix: ...``, under the file."""
    lines = [f"{file}: {exc.error_count()} problem(s) in the configuration:"]
    for error in exc.errors():
        loc = _clean_loc(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == PROBLEM and ctx.get("key"):
            loc = loc + tuple(int(p) if p.isdigit() else p for p in str(ctx["key"]).split("."))
        key = dotted(_without_tags(root, loc))
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            key += "." + str(ctx.get("discriminator", "'kind'")).strip("'")
        lines.append(f"  - {key}: {_describe(error, loc, key, root)}")
    return "\n".join(lines)


def dotted(loc: tuple[Any, ...]) -> str:
    """``a.b[0].c`` from a pydantic location."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        p for p in loc if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
    )


def shown(key: str, value: Any) -> str:
    """The value as the message shows it: secrets masked, containers summarized, long cut."""
    if _SECRET_KEYS.search(key.rsplit(".", 1)[-1].lower()):
        return "'***'"
    if isinstance(value, dict):
        return "(a mapping)"
    if isinstance(value, list):
        return "(a list)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that validates the mapping found at ``loc``, walking fields and dict values.

    A union of models tagged by ``kind`` (the source kinds) takes the tag as the next part of
    the location, as pydantic reports it.
    """
    return _walk(root, loc)[0]


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, set[int]]:
    """The model at ``loc`` and the positions in ``loc`` that are union tags, not keys."""
    model: type[BaseModel] | None = root
    pending_key = False
    tags: set[int] = set()
    union: dict[str, type[BaseModel]] = {}
    for index, part in enumerate(loc):
        if pending_key:
            pending_key = False
            continue
        if union:
            model, union = union.get(str(part)), {}
            tags.add(index)
            continue
        field = model.model_fields.get(part) if model else None
        if field is None:
            return None, tags
        annotation = _unwrap(field.annotation)
        if get_origin(annotation) is dict:
            annotation, pending_key = _unwrap(get_args(annotation)[1]), True
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        if get_origin(annotation) in (Union, types.UnionType):
            union = _tagged(annotation)
            model = None
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None, tags
        model = annotation
    return (None if pending_key or union else model), tags


def _tagged(annotation: Any) -> dict[str, type[BaseModel]]:
    """The members of a union of models by the value of their ``kind`` literal."""
    members: dict[str, type[BaseModel]] = {}
    for member in get_args(annotation):
        model = isinstance(member, type) and issubclass(member, BaseModel)
        kind = member.model_fields.get("kind") if model else None
        if kind is not None and get_origin(kind.annotation) is Literal:
            members.update({str(v): member for v in get_args(kind.annotation)})
    return members


def _without_tags(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location as the user wrote it: union tags removed."""
    tags = _walk(root, loc)[1]
    return tuple(p for i, p in enumerate(loc) if i not in tags)


def _field_at(root: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    if not loc:
        return None
    model = _model_at(root, loc[:-1])
    return model.model_fields.get(loc[-1]) if model else None


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _choices(field: FieldInfo | None) -> list[str]:
    annotation = _unwrap(field.annotation) if field else None
    if get_origin(annotation) is Literal:
        return [str(a).lower() if isinstance(a, bool) else str(a) for a in get_args(annotation)]
    return []


def _describe(error: dict[str, Any], loc: tuple[Any, ...], key: str, root: type[BaseModel]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    field = _field_at(root, loc)
    about = f" ({field.description.rstrip('.')})" if field and field.description else ""
    if kind == PROBLEM:
        bad = f"value {shown(key, ctx['value'])}: " if "value" in ctx else ""
        return f"{bad}{ctx['message']}. Fix: {ctx['fix']}."
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = list(model.model_fields) if model else []
        allowed = [a for a in allowed if a != "base_dir"]
        return (
            f"unknown key '{loc[-1]}'{did_you_mean(loc[-1], allowed)}; allowed here: "
            f"{', '.join(allowed)}. Fix: correct its spelling or remove it."
        )
    if kind == "missing":
        choices = _choices(field)
        one_of = f"; one of {', '.join(choices)}" if choices else ""
        return f"required key is missing{about}{one_of}. Fix: add '{loc[-1]}:' here."
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(t.strip("' ") for t in str(ctx.get("expected_tags", "")).split(","))
        if kind == "union_tag_not_found":
            return f"required key is missing; one of {tags}. Fix: add 'kind:' to the source."
        tag = ctx.get("tag", "")
        return (
            f"value '{tag}' is not allowed{did_you_mean(tag, tags.split(', '))}; allowed: "
            f"{tags}. Fix: use one of those."
        )
    if kind == "literal_error":
        choices = _choices(field) or [ctx.get("expected", "")]
        return (
            f"value {shown(key, value)} is not allowed{did_you_mean(value, choices)}; allowed: "
            f"{', '.join(choices)}. Fix: use one of those."
        )
    if kind == "string_pattern_mismatch":
        return _pattern_message(loc, key, value)
    if kind in ("string_too_long", "string_too_short"):
        size = ctx.get("max_length") if kind == "string_too_long" else ctx.get("min_length")
        limit = "at most" if kind == "string_too_long" else "at least"
        fix = (
            "use a single character such as ',', ';', '|' or \"\\t\" (a tab, in double quotes)"
            if loc and loc[-1] in ("delimiter", "quote")
            else f"shorten or lengthen it to {limit} {size} character(s)"
        )
        amount = f"{limit} {size} character(s)"
        return f"value {shown(key, value)} must have {amount}{about}. Fix: {fix}."
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"value {shown(key, value)}: {error['msg'].lower()}{about}. Fix: use such a number."
    if kind.endswith("_type") or kind.endswith("_parsing"):
        wanted = _TYPE_WORDS.get(kind.split("_")[0], error["msg"].lower())
        return f"value {shown(key, value)} has the wrong type{about}. Fix: write {wanted}."
    return f"value {shown(key, value)}: {error['msg']}{about}. Fix: correct it."


def _pattern_message(loc: tuple[Any, ...], key: str, value: Any) -> str:
    if loc and loc[-1] == "memory_limit":
        return f"value {shown(key, value)} is not a size. Fix: write it like 768MB or 2GB."
    suggestion = re.sub(r"[^a-z0-9_]+", "_", str(value).lower()).strip("_")
    if not suggestion or not suggestion[0].isalpha():
        suggestion = f"x_{suggestion}".rstrip("_")
    return (
        f"name {shown(key, value)} is not allowed: names are lower-case letters, digits and "
        f"underscores, starting with a letter (at most 63). Fix: rename it, e.g. to "
        f"'{suggestion[:63]}'."
    )
