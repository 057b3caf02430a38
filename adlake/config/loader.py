"""Reading adlake.yaml: the file, strict YAML, and validation errors turned into clear messages."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from adlake.config.base import ConfigError
from adlake.config.errors import format_validation_error
from adlake.config.profile import PROFILE_ENV_VAR, AdlakeConfig

DEFAULT_CONFIG_FILE = "adlake.yaml"
CONFIG_ENV_VAR = "ADLAKE_CONFIG"


def config_path() -> Path:
    """The configuration file to load: ``$ADLAKE_CONFIG`` or ``./adlake.yaml``."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_FILE).resolve()


def load_config(path: str | Path | None = None) -> AdlakeConfig:
    """Read and validate adlake.yaml; raise ConfigError naming file, key, value and fix."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(
            f"{file}: configuration file not found. Fix: create it (copy the README's sample) "
            f"or set {CONFIG_ENV_VAR} to the path of your adlake.yaml."
        )
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: byte {exc.start} is not UTF-8. Fix: save the file as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{file}: cannot be read ({exc.strerror}). Fix: check its permissions."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_message(file, exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: the top level is a {type(data).__name__}, not a mapping of keys. Fix: start "
            "the file with keys such as 'profile: local' and 'sources:'."
        )
    data.setdefault("base_dir", str(file.parent))
    if os.environ.get(PROFILE_ENV_VAR):
        data["profile"] = os.environ[PROFILE_ENV_VAR]
    try:
        return AdlakeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(file, exc, AdlakeConfig)) from None


def _yaml_message(file: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem_text = getattr(exc, "problem", None) or "invalid YAML"
    context = getattr(exc, "context", None)
    detail = f"{problem_text} ({context})" if context else problem_text
    fix = (
        "keep one of the two, or rename the other"
        if "appears twice" in problem_text
        else "correct the YAML syntax on that line (indentation, a missing ':', or a closing "
        "bracket or quote)"
    )
    return f"{file}:{where} invalid YAML: {detail}. Fix: {fix}."


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key written twice instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    f"while reading the mapping that starts on line {node.start_mark.line + 1}",
                    node.start_mark,
                    f"key '{key}' appears twice (lines {seen[key]} and {line}); the second "
                    "would silently replace the first",
                    key_node.start_mark,
                )
            if isinstance(key, str):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)
