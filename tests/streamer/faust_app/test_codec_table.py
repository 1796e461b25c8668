"""The worker's table view: batched writes reach the table once per key, at the end."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.faust_app.worker import CodecTable, batched_writes


class RecordingTable(dict[str, Any]):
    """A Faust table as the view uses it; every write is one changelog message."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.log.append((key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.log.append((key, None))
        super().__delitem__(key)


def _view(cache: bool = False) -> tuple[CodecTable, RecordingTable]:
    table = RecordingTable()
    return CodecTable(table, lambda raw: raw["v"], lambda v: {"v": v}, cache=cache), table


@pytest.mark.parametrize("cache", [False, True])
def test_each_key_is_written_once_with_its_last_value(cache: bool) -> None:
    view, table = _view(cache)
    view["kept"] = 0
    table.log.clear()
    with batched_writes(view):
        for n in range(1, 4):
            view["a"] = view.get("a", 0) + n
            view["kept"] = view["kept"] + 1
        assert view["a"] == 6 and "a" not in table  # read back from the batch, not written
    assert sorted(table.log) == [("a", {"v": 6}), ("kept", {"v": 3})]
    assert view["a"] == 6


def test_deletes_in_a_batch() -> None:
    view, table = _view()
    view["gone"] = 1
    table.log.clear()
    with batched_writes(view):
        del view["gone"]
        assert "gone" not in view
        view["never"] = 1
        del view["never"]  # written and deleted in the batch: nothing to write
    assert table.log == [("gone", None)]
    assert "gone" not in table and "never" not in table


def test_whole_table_reads_see_the_batch() -> None:
    view, table = _view()
    with batched_writes(view):
        view["a"] = 1
        assert [*view.values()] == [1] and len(view) == 1 and list(view) == ["a"]
        view["a"] = 2
    assert table.log == [("a", {"v": 1}), ("a", {"v": 2})]


def test_a_failed_batch_writes_nothing() -> None:
    view, table = _view(cache=True)
    view["a"] = 1
    with pytest.raises(RuntimeError), batched_writes(view):
        view["a"] = 2
        raise RuntimeError("boom")
    assert table == {"a": {"v": 1}} and view["a"] == 1
