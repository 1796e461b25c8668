"""The CRM sample dataset as contract events: what each row becomes, and the whole file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from schemas import DealCreated, DealLost, DealWon, RepUpserted, parse_event
from streamer.devtools.crm_sample import events, is_dataset, main, write_jsonl


def small_dataset(root: Path) -> Path:
    (root / "sales_teams.csv").write_text(
        "sales_agent,manager,regional_office\n"
        "Ann Lee,Dora Diaz,Central\n"
        "Bob Roy,Dora Diaz,Central\n"
        "Idle Ida,Dora Diaz,West\n"
    )
    (root / "products.csv").write_text("product,series,sales_price\nGTX Pro,GTX,4821\n")
    (root / "sales_pipeline.csv").write_text(
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
        "W1,Ann Lee,GTXPro,Acme,Won,1/2/2017,1/20/2017,4500\n"
        "L1,Bob Roy,GTX Pro,Acme,Lost,1/3/2017,1/10/2017,0\n"
        "E1,Ann Lee,GTXPro,Acme,Engaging,1/4/2017,,\n"
        "P1,Bob Roy,GTXPro,,Prospecting,,,\n"
    )
    return root


def test_each_row_becomes_the_events_a_connector_would_have_written(tmp_path: Path) -> None:
    data = small_dataset(tmp_path)
    assert is_dataset(data) and not is_dataset(data / "products.csv")
    out = events(data)
    parsed = [parse_event(json.dumps(e)) for e in out]
    kinds = [(e["event_type"], e.get("deal_id", e["rep_id"])) for e in out]
    assert kinds == [
        ("rep.upserted", "rep-ann-lee"),
        ("rep.upserted", "rep-bob-roy"),  # Idle Ida has no opportunity: not a working rep
        ("deal.created", "W1"),
        ("deal.created", "L1"),
        ("deal.created", "E1"),
        ("deal.lost", "L1"),
        ("deal.won", "W1"),
    ]  # P1 (Prospecting) has no date: left out
    reps = [p for p in parsed if isinstance(p, RepUpserted)]
    assert {(r.team_id, r.manager_id) for r in reps} == {("central", "mgr-dora-diaz")}
    assert out[0]["occurred_at"] == "2017-01-02T00:00:00Z"  # before the first deal event
    created = next(p for p in parsed if isinstance(p, DealCreated))
    assert (created.stage, created.amount, created.rep_id) == ("engaging", 4821.0, "rep-ann-lee")
    assert out[2]["occurred_at"] == "2017-01-02T12:00:00Z"  # dates only: noon UTC
    won = next(p for p in parsed if isinstance(p, DealWon))
    lost = next(p for p in parsed if isinstance(p, DealLost))
    assert (won.stage, won.amount) == ("won", 4500.0)  # close_value
    assert (lost.stage, lost.amount) == ("lost", 4821.0)  # the list price, not 0
    assert len({e["event_id"] for e in out}) == len(out)


def test_the_whole_dataset_converts_in_order_and_validates(data_dir: Path, tmp_path: Path) -> None:
    out = events(data_dir)
    times = [parse_event(json.dumps(e)).occurred_at for e in out]
    assert times == sorted(times)
    counts = Counter(e["event_type"] for e in out)
    # 8,800 rows: 500 Prospecting without dates; 4,238 won and 2,473 lost of 8,300 engaged
    assert counts == {
        "rep.upserted": 30,
        "deal.created": 8300,
        "deal.won": 4238,
        "deal.lost": 2473,
    }
    target = tmp_path / "crm.jsonl"
    assert main([str(data_dir), str(target)]) == 0
    assert len(target.read_bytes().splitlines()) == sum(counts.values())
    assert write_jsonl(data_dir, target) == sum(counts.values())
    assert main([str(tmp_path), str(target)]) == 2  # not the dataset
