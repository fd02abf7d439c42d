"""``check --show-settings``: the resolved configuration, and where each part came from.

Every field of ``Settings`` is listed under its configuration key, so a new setting shows up
here without a change to this module.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from torchlint.config import Settings
from torchlint.discovery import DEFAULT_EXCLUDES
from torchlint.torch_versions import format_version

# Not configuration keys: shown in the header, or as the origin of the value they describe.
_NOT_KEYS = frozenset(
    {"root", "config_file", "target_version_source", "max_target_version_source", "package_ranges"}
)


# What an unset value means, where "(not set)" alone would not say.
_UNSET = {"select": "(not set: the rules marked on by default)"}


def _toml(value: Any, table: bool = False) -> str:
    """A value as it would be written in ``[tool.torchlint]`` (``table``: pairs as a table)."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if table and isinstance(value, tuple):
        pairs = ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value)
        return "{ " + pairs + " }"
    if isinstance(value, tuple | list | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else value
        return "[" + ", ".join(_toml(v) for v in items) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def _target_version(settings: Settings) -> str:
    if settings.target_version is None:
        return (
            "(not set, and no torch requirement with a lower bound was found: "
            "fixes may use any torch API)"
        )
    value = f'"{format_version(settings.target_version)}"'
    return f"{value}  # from {settings.target_version_source or 'the settings'}"


def _max_target_version(settings: Settings) -> str:
    if settings.max_target_version is None:
        return (
            "(not set, and no torch requirement with an upper bound was found: "
            "the newest torch is assumed supported)"
        )
    value = f'"{format_version(settings.max_target_version)}"'
    return f"{value}  # from {settings.max_target_version_source or 'the settings'}"


def _ranges(settings: Settings) -> list[str]:
    """The supported range of each package the rules ask about, and where each end came from."""
    lines = []
    for package in ("torch", "torchvision", "torchaudio"):
        found = settings.range_of(package)
        if found.lower is None and found.upper is None and package != "torch":
            continue
        ends = [
            f"{end} from {source}"
            for end, source in (("oldest", found.lower_source), ("newest", found.upper_source))
            if source
        ]
        origin = f" ({'; '.join(ends)})" if ends else ""
        lines.append(f"  {found.describe(package)}{origin}")
    return lines


def describe_settings(settings: Settings) -> str:
    """The text ``--show-settings`` prints."""
    config = str(settings.config_file) if settings.config_file else "none (built-in defaults)"
    lines = [
        f"Settings file: {config}",
        f"Project root: {settings.root}",
        "",
        "[tool.torchlint]  # resolved: defaults, then the settings file, then the command line",
    ]
    for item in dataclasses.fields(settings):
        if item.name in _NOT_KEYS or not item.init:  # not init: memos, not settings
            continue
        key = item.name.replace("_", "-")
        value = getattr(settings, item.name)
        if key == "target-version":
            text = _target_version(settings)
        elif key == "max-target-version":
            text = _max_target_version(settings)
        elif value is None and key in _UNSET:
            text = _UNSET[key]
        else:
            text = _toml(value, table="tuple[tuple[" in str(item.type))
        lines.append(f"{key} = {text}")
    codes = sorted(settings.selected_codes)
    lines += ["", "Supported versions (what the version rules report and fix for):"]
    lines += _ranges(settings)
    lines += [
        "",
        f"Selected rules ({len(codes)}): {' '.join(codes)}",
        f"Always excluded: {' '.join(DEFAULT_EXCLUDES)}",
    ]
    return "\n".join(lines) + "\n"
