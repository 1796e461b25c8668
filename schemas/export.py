"""Writing the JSON Schemas other teams read (``schemas/json/`` in the repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from schemas.alert import Alert
from schemas.envelope import SCHEMA_VERSION
from schemas.events import EVENT_MODELS

__all__ = ["INDEX_FILE", "export_json_schemas", "json_schemas"]

INDEX_FILE: Final = "index.json"
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every message's JSON Schema by name: one per ``event_type``, and ``alert``.

    Input events are described as they may be written (validation mode);
    the alert as salespulse writes it, every field present (serialization mode).
    """
    schemas = {name: _schema(model, "validation") for name, model in EVENT_MODELS.items()}
    schemas["alert"] = _schema(Alert, "serialization")
    return schemas


def export_json_schemas(directory: str | Path) -> list[Path]:
    """Write ``<name>.json`` for every message and an ``index.json`` listing them.

    The output is deterministic (sorted keys, two-space indent, a trailing
    newline) so a test can compare it byte for byte with the committed copy.
    Files already in ``directory`` that are not ours are left alone. Returns
    the written paths, sorted.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    schemas = json_schemas()
    index = {
        "schema_version": SCHEMA_VERSION,
        "schemas": {
            name: {
                "file": f"{name}.json",
                "title": schema["title"],
                "description": schema["description"],
            }
            for name, schema in schemas.items()
        },
    }
    written = [_write(target / f"{name}.json", schema) for name, schema in schemas.items()]
    written.append(_write(target / INDEX_FILE, index))
    return sorted(written)


def _schema(model: type[BaseModel], mode: Any) -> dict[str, Any]:
    return {"$schema": _DIALECT, **model.model_json_schema(mode=mode)}


def _write(path: Path, document: dict[str, Any]) -> Path:
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_bytes(text.encode("utf-8"))
    return path
