"""The backtest's HTML report, rendered by a real headless browser: the charts are drawn.

The page is opened from a file with the network closed to the browser; the DOM
after its script ran is read back, and every chart must hold exactly the bars
its figures call for (counted here from the JSON, independently of the
script), each laid out by the browser with a positive size.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from streamer.backtest import event_lines, report, run_backtest
from streamer.backtest_report import render_html
from streamer.devtools.simulate import SimConfig, write_jsonl
from streamer.settings import load_settings


class Dom(HTMLParser):
    """The figures of the dumped DOM, with the bar rectangles inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.figures: list[dict[str, Any]] = []
        self._in_figure = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "figure" and "chart" in (a.get("class") or ""):
            self.figures.append({**a, "bars": []})
            self._in_figure = True
        elif tag == "rect" and self._in_figure and a.get("class") == "bar":
            self.figures[-1]["bars"].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._in_figure = False


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError(
            "chromium not found: run deploy/dev/install-system-deps.sh (make test does)"
        )
    return found


def rendered(page: Path, profile: Path) -> Dom:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom()
    dom.feed(done.stdout)
    return dom


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("report")
    events = root / "sim.jsonl"
    write_jsonl(SimConfig(days=40, reps=4, seed=3), events)
    base = load_settings()
    tuned = load_settings(rules={"follow_up_gap": {"enabled": False}})
    runs = [
        run_backtest(base, event_lines(events)(), label="current", flap_seconds=86_400),
        run_backtest(tuned, event_lines(events)(), label="tuned.toml", flap_seconds=86_400),
    ]
    # a file name that tries to end the script element the figures sit in
    return report("sim</script><b>x.jsonl", 1440, runs)


def expected_bars(data: dict[str, Any], figure: dict[str, Any]) -> int:
    runs = data["runs"]
    if figure["data-kind"] == "weekly":
        firings = runs[int(figure["data-run"])]["weekly"]["firings"]
        return sum(1 for counts in firings.values() for n in counts if n > 0)
    key = figure["data-figure"]
    rules = [
        rule
        for rule in runs[0]["rules"]
        if figure["data-deal-only"] != "true" or rule in data["deal_rules"]
    ]
    return sum(1 for run in runs for rule in rules if (run["rules"][rule][key] or 0) > 0)


def test_every_chart_is_drawn_in_a_real_browser(data: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")
    dom = rendered(page, tmp_path / "profile")
    kinds = [f["data-kind"] for f in dom.figures]
    assert kinds == ["weekly", "weekly"] + ["per-rule"] * 5, "one weekly chart per configuration"
    assert dom.body.get("data-charts") == "7", "the script ran to its end"
    for figure in dom.figures:
        want = expected_bars(data, figure)
        name = figure.get("data-figure") or f"weekly {figure['data-run']}"
        assert want > 0, f"{name}: the test data should give this chart something to draw"
        assert figure.get("data-bars") == str(want), name
        assert figure.get("data-drawn") == str(want), f"{name}: bars laid out with a size"
        assert len(figure["bars"]) == want
        for bar in figure["bars"]:
            assert float(bar["width"]) > 0 and float(bar["height"]) > 0, name


def test_the_weekly_bars_stack_to_the_weeks_firings(data: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")
    weekly = rendered(page, tmp_path / "profile").figures[0]
    firings = data["runs"][0]["weekly"]["firings"]
    totals = [sum(col) for col in zip(*firings.values(), strict=True)]
    # the bars of the tallest week are the tallest stack: heights are proportional to counts
    by_x: dict[str, float] = {}
    for bar in weekly["bars"]:
        by_x[bar["x"]] = by_x.get(bar["x"], 0.0) + float(bar["height"])
    heights = [by_x[x] for x in sorted(by_x, key=float)]
    nonzero = [t for t in totals if t > 0]
    assert len(heights) == len(nonzero)
    ratios = [h / t for h, t in zip(heights, nonzero, strict=True)]
    assert max(ratios) - min(ratios) < 1e-6 * max(ratios)


def test_the_page_is_self_contained(data: dict[str, Any]) -> None:
    page = render_html(data)
    assert not re.search(r"\b(src|href)\s*=", page), "nothing is loaded from elsewhere"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "sim</script><b>x.jsonl" not in page  # escaped in text and in the embedded data
    assert "sim&lt;/script&gt;&lt;b&gt;x.jsonl" in page
