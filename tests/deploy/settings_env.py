"""Check SALESPULSE_* variables against the live settings model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from streamer.settings import Settings

PREFIX = "SALESPULSE_"


def unknown_setting(name: str) -> str | None:
    """Why ``name`` is not a settings variable, or None when it names a field."""
    if not name.startswith(PREFIX):
        return f"{name}: not a SALESPULSE_ variable"
    model: Any = Settings
    parts = name.removeprefix(PREFIX).lower().split("__")
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            return f"{name}: no setting {'.'.join(parts[: i + 1])}"
        annotation = fields[part].annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return f"{name}: {'.'.join(parts[: i + 1])} has no sub-settings"
            model = annotation
    return None


def load_with_env(monkeypatch: Any, env: dict[str, str], config: Path | None = None) -> Settings:
    """Build the settings from exactly these variables and config file (default: none)."""
    for key in list(os.environ):
        if key.startswith(PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SALESPULSE_CONFIG", str(config or "/nonexistent/salespulse.toml"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from streamer.settings import load_settings

    return load_settings()
