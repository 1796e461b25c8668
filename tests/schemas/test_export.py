"""The committed JSON Schemas are exactly what the models export."""

from __future__ import annotations

import json
from pathlib import Path

import schemas
from schemas import EVENT_MODELS, export_json_schemas

COMMITTED = Path(schemas.__file__).parent / "json"
HOW_TO_FIX = "run `salespulse schemas export schemas/json` and commit the result"


def test_committed_schemas_match_the_models(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)

    exported = {path.name: path.read_bytes() for path in written}
    committed = {path.name: path.read_bytes() for path in COMMITTED.glob("*.json")}
    assert sorted(exported) == sorted(committed), (
        f"schemas/json holds other files than the models export; {HOW_TO_FIX}"
    )
    stale = sorted(name for name in exported if exported[name] != committed[name])
    assert not stale, f"schemas/json is out of date with the models ({stale}); {HOW_TO_FIX}"


def test_one_schema_per_event_type_plus_alert_and_index(tmp_path: Path) -> None:
    names = {path.name for path in export_json_schemas(tmp_path / "new" / "dir")}

    assert names == {f"{t}.json" for t in EVENT_MODELS} | {"alert.json", "index.json"}


def test_export_is_deterministic_and_newline_terminated(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export_json_schemas(tmp_path / "b")}

    assert first == second
    assert all(text.endswith(b"}\n") for text in first.values())


def test_schemas_document_the_contract(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    deal = json.loads((tmp_path / "deal.stage_changed.json").read_text())
    alert = json.loads((tmp_path / "alert.json").read_text())
    index = json.loads((tmp_path / "index.json").read_text())

    assert deal["required"][0] == "event_type"
    assert {"from_stage", "stage", "deal_id", "occurred_at"} <= set(deal["required"])
    assert "amount" not in deal["required"]
    assert all(field.get("description") for field in deal["properties"].values())
    assert set(alert["required"]) == set(alert["properties"])  # every field always written
    assert index["schemas"]["alert"]["file"] == "alert.json"
