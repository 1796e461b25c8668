"""The backtest's HTML report: one self-contained file, no server, no network.

The figures are the JSON report of :func:`streamer.backtest.report`, embedded
in the page; a small inline script draws the charts as SVG from them (alerts
per week per rule, one chart per configuration; then per rule, the
configurations side by side: firings per manager per day, flap share, told-flap
share, lift and lead time). The table of figures is plain HTML, readable without the script.

Every chart is a ``<figure class="chart">``; when the script has drawn it, it
sets ``data-bars`` (the bars the data calls for) and ``data-drawn`` (the bars
the browser laid out with a positive size), so a test in a headless browser
can tell that the charts are drawn.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; }
p.note { color: #555; font-size: 13px; max-width: 820px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 3px 8px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tr.total td { font-weight: bold; border-top: 1px solid #999; }
figure.chart { margin: 12px 0 24px; }
figure.chart figcaption { font-weight: 600; font-size: 14px; margin-bottom: 4px; }
svg text { font-size: 11px; fill: #333; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("backtest-data").textContent);
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var RUN_COLOURS = ["#3465a4", "#e07b00", "#4e9a06", "#75507b"];
  var runs = data.runs;
  var rules = Object.keys(runs[0].rules);

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) { node.setAttribute(key, attrs[key]); }
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function text(parent, x, y, words, anchor) {
    var t = el("text", {x: x, y: y, "text-anchor": anchor || "start"}, parent);
    t.textContent = words;
    return t;
  }
  function svgIn(figure, width, height) {
    return el("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height,
                      role: "img"}, figure);
  }
  function legend(figure, names, colours) {
    var div = document.createElement("div");
    div.className = "legend";
    names.forEach(function (name, i) {
      var span = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = colours[i % colours.length];
      span.appendChild(swatch);
      span.appendChild(document.createTextNode(name));
      div.appendChild(span);
    });
    figure.appendChild(div);
  }
  function niceMax(value) {
    if (!(value > 0)) { return 1; }
    var step = Math.pow(10, Math.floor(Math.log10(value)));
    var units = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < units.length; i++) {
      if (units[i] * step >= value) { return units[i] * step; }
    }
    return 10 * step;
  }
  function finish(figure, expected) {
    var drawn = 0;
    figure.querySelectorAll("rect.bar").forEach(function (rect) {
      var box = rect.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) { drawn += 1; }
    });
    figure.setAttribute("data-bars", String(expected));
    figure.setAttribute("data-drawn", String(drawn));
  }

  // Alerts per week per rule: stacked bars, one chart per configuration, one y scale.
  function weekly(figure) {
    var run = runs[Number(figure.getAttribute("data-run"))];
    var weeks = run.weekly.weeks, firings = run.weekly.firings;
    var top = 0;
    runs.forEach(function (r) {
      r.weekly.weeks.forEach(function (_, w) {
        var sum = 0;
        for (var rule in r.weekly.firings) { sum += r.weekly.firings[rule][w] || 0; }
        top = Math.max(top, sum);
      });
    });
    top = niceMax(top);
    var W = 940, H = 240, left = 48, right = 10, up = 10, down = 36;
    var svg = svgIn(figure, W, H);
    var plotW = W - left - right, plotH = H - up - down;
    var band = plotW / Math.max(weeks.length, 1);
    [0, top / 2, top].forEach(function (tick) {
      var y = up + plotH - plotH * tick / top;
      el("line", {x1: left, x2: W - right, y1: y, y2: y, stroke: "#ddd"}, svg);
      text(svg, left - 6, y + 4, String(Math.round(tick * 10) / 10), "end");
    });
    var expected = 0;
    var names = Object.keys(firings);
    weeks.forEach(function (week, w) {
      var base = up + plotH;
      names.forEach(function (rule, r) {
        var n = firings[rule][w] || 0;
        if (n <= 0) { return; }
        expected += 1;
        var h = plotH * n / top;
        base -= h;
        var rect = el("rect", {"class": "bar", x: left + w * band + 1, y: base,
                               width: Math.max(band - 2, 1), height: h,
                               fill: PALETTE[r % PALETTE.length]}, svg);
        el("title", {}, rect).textContent = week + " " + rule + ": " + n;
      });
      if (w % Math.max(1, Math.ceil(weeks.length / 10)) === 0) {
        text(svg, left + w * band, H - down + 14, week, "start");
      }
    });
    text(svg, left, H - 4, "week starting (UTC); firing messages per week", "start");
    legend(figure, names, PALETTE);
    finish(figure, expected);
  }

  // Per rule, configurations side by side: horizontal bars of one figure.
  function perRule(figure) {
    var key = figure.getAttribute("data-figure");
    var unit = figure.getAttribute("data-unit") || "";
    var reference = figure.getAttribute("data-reference");
    var dealOnly = figure.getAttribute("data-deal-only") === "true";
    var shown = rules.filter(function (rule) {
      return !dealOnly || data.deal_rules.indexOf(rule) >= 0;
    });
    var top = reference ? Number(reference) : 0;
    shown.forEach(function (rule) {
      runs.forEach(function (run) {
        var v = run.rules[rule][key];
        if (v !== null && v !== undefined) { top = Math.max(top, v); }
      });
    });
    top = niceMax(top);
    var rowH = 16, gap = 10, left = 150, right = 80;
    var W = 940, H = shown.length * (runs.length * rowH + gap) + 28;
    var svg = svgIn(figure, W, H);
    var plotW = W - left - right;
    var expected = 0;
    shown.forEach(function (rule, i) {
      var y0 = 6 + i * (runs.length * rowH + gap);
      text(svg, left - 8, y0 + runs.length * rowH / 2 + 4, rule, "end");
      runs.forEach(function (run, j) {
        var v = run.rules[rule][key];
        var y = y0 + j * rowH;
        if (v === null || v === undefined) {
          text(svg, left + 4, y + rowH - 4, "no data", "start");
          return;
        }
        var w = plotW * v / top;
        if (v > 0) {
          expected += 1;
          var rect = el("rect", {"class": "bar", x: left, y: y + 1, width: Math.max(w, 1),
                                 height: rowH - 2, fill: RUN_COLOURS[j % RUN_COLOURS.length]},
                        svg);
          el("title", {}, rect).textContent = run.label + " " + rule + ": " + v;
        }
        var shownValue = unit === "%" ? Math.round(v * 100) + "%" :
          (v > 0 && v < 0.01 ? "<0.01" : String(Math.round(v * 100) / 100)) +
          (unit ? " " + unit : "");
        text(svg, left + Math.max(w, 1) + 6, y + rowH - 4, shownValue, "start");
      });
    });
    var axisY = H - 20;
    el("line", {x1: left, x2: left + plotW, y1: axisY, y2: axisY, stroke: "#999"}, svg);
    text(svg, left, axisY + 14, "0", "middle");
    text(svg, left + plotW, axisY + 14, unit === "%" ? Math.round(top * 100) + "%" :
      String(top), "middle");
    if (reference) {
      var x = left + plotW * Number(reference) / top;
      el("line", {x1: x, x2: x, y1: 0, y2: axisY, stroke: "#c00",
                  "stroke-dasharray": "4 3"}, svg);
      text(svg, x + 4, axisY + 14, reference + " = no signal", "start");
    }
    legend(figure, runs.map(function (run) { return run.label; }), RUN_COLOURS);
    finish(figure, expected);
  }

  var charts = document.querySelectorAll("figure.chart");
  charts.forEach(function (figure) {
    if (figure.getAttribute("data-kind") === "weekly") { weekly(figure); }
    else { perRule(figure); }
  });
  document.body.setAttribute("data-charts", String(charts.length));
})();
"""

_PER_RULE = (
    # data-figure, caption, unit, reference line, deal rules only
    ("firings_per_manager_day", "Firings per manager per day", "", None, False),
    (
        "flap_share",
        "Share of episodes that were flaps (from when the condition began)",
        "%",
        None,
        False,
    ),
    (
        "told_flap_share",
        "Told flaps: share of the episodes a manager heard of that were over within the flap "
        "time of the first notification",
        "%",
        None,
        False,
    ),
    ("lift", "Lift: P(lost | alerted) / P(lost), deal rules", "", "1", True),
    ("median_lead_days", "Median lead time from alert to loss, deal rules", "days", None, True),
)


def _cell(value: Any, kind: str = "num") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "days":
        return f"{value * 24:.1f} h" if value < 2 else f"{value:.1f} d"
    if kind == "int":
        return f"{value:,}"
    return "&lt;0.01" if 0 < value < 0.005 else f"{value:,.2f}"


_COLUMNS = (
    ("firings", "firings", "int"),
    ("firings_per_rep_week", "/rep/week", "num"),
    ("firings_per_manager_day", "/mgr/day", "num"),
    ("flap_share", "flaps", "pct"),
    ("message_flap_share", "msg flaps", "pct"),
    ("told_episodes", "told", "int"),
    ("told_flap_share", "told flaps", "pct"),
    ("median_episode_days", "median episode", "days"),
    ("lift", "lift", "num"),
    ("lost_alerted_share", "lost alerted", "pct"),
    ("median_lead_days", "lead time", "days"),
    ("lost_told_share", "lost told", "pct"),
    ("median_told_lead_days", "told lead", "days"),
)


def _table(report: dict[str, Any]) -> str:
    e = html.escape
    runs = report["runs"]
    head = "".join(f"<th>{e(label)}</th>" for _, label, _ in _COLUMNS)
    rows = []
    for rule in runs[0]["rules"]:
        for i, run in enumerate(runs):
            figures = run["rules"][rule]
            cells = "".join(f"<td>{_cell(figures[key], kind)}</td>" for key, _, kind in _COLUMNS)
            off = " (off)" if rule in run["disabled_rules"] else ""
            name = e(rule) if i == 0 else ""
            rows.append(f"<tr><td>{name}</td><td>{e(run['label'])}{off}</td>{cells}</tr>")
    for i, run in enumerate(runs):
        cells = "".join(f"<td>{_cell(run['overall'][key], kind)}</td>" for key, _, kind in _COLUMNS)
        name = "all rules" if i == 0 else ""
        rows.append(f"<tr class='total'><td>{name}</td><td>{e(run['label'])}</td>{cells}</tr>")
    return (
        f"<table><thead><tr><th>rule</th><th>config</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _population(run: dict[str, Any]) -> str:
    p, ev, o = run["population"], run["events"], run["overall"]
    busiest = (
        f"; busiest manager {o['busiest_manager']}: {o['busiest_manager_firings_per_day']:.2f} "
        "firings a day"
        if o.get("busiest_manager")
        else ""
    )
    n = run.get("notifications") or {}
    told = (
        f"; managers would have been told {n['per_manager_day']:.2f} times a day (digests "
        f"once; busiest {n['busiest_manager']}: {n['busiest_manager_per_day']:.2f})"
        if n.get("per_manager_day") is not None and n.get("busiest_manager")
        else ""
    )
    return (
        f"<b>{html.escape(run['label'])}</b>: {ev['accepted']:,} events "
        f"({ev['rejected']:,} rejected, {ev['late']:,} late), {p['start'][:10]} to "
        f"{p['end'][:10]} ({p['days']:,.0f} days), {p['reps']} reps, {p['managers']} managers, "
        f"{p['closed_deals']:,} closed deals ({p['lost_deals']:,} lost)"
        f"{html.escape(busiest)}{html.escape(told)}"
    )


def _script_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole report page for the JSON ``report`` of a backtest."""
    e = html.escape
    runs = report["runs"]
    weekly = "".join(
        f"<figure class='chart' data-kind='weekly' data-run='{i}'>"
        f"<figcaption>Alerts per week per rule: {e(run['label'])}</figcaption></figure>"
        for i, run in enumerate(runs)
    )
    per_rule = "".join(
        f"<figure class='chart' data-kind='per-rule' data-figure='{key}' data-unit='{unit}'"
        + (f" data-reference='{reference}'" if reference else "")
        + f" data-deal-only='{'true' if deal_only else 'false'}'>"
        f"<figcaption>{e(caption)}</figcaption></figure>"
        for key, caption, unit, reference, deal_only in _PER_RULE
    )
    population = "".join(f"<p class='note'>{_population(run)}</p>" for run in runs)
    flap = f"{report['flap_minutes']:g}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>salespulse backtest: {e(report["file"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>salespulse backtest</h1>
<p class="note">What each rule would have said over <code>{e(report["file"])}</code>, replayed on
event time through the same rules a worker runs.</p>
{population}
<h2>Per rule</h2>
{_table(report)}
<p class="note">Firings are firing messages (each reaches a person); per rep per week and per
manager per day over the span of the events. A flap is an episode shorter than {flap} minutes,
counted from when its condition began; msg flaps count from the first firing message on the
alerts topic (a rule's <code>for</code> delays it, so it removes flaps by construction). What people
are told is what counts as told: <em>told</em> is the number of episodes a manager received a
notification about (at once, or in a digest when it went out; a digest leaves out the episodes
that opened and closed while it gathered), and a told flap is one of them over within {flap}
minutes of its first notification, which is what a manager experiences. All end an episode at
its <code>resolved_at</code>, when the condition stopped holding, not when a
<code>keep_firing_for</code> let the resolution be written. The median episode is over the
episodes that ended. For deal rules, on the deals that closed:
lift is P(lost | alerted before the close) / P(lost) (above 1 the alert points at deals at risk),
lost alerted is the share of lost deals alerted before they closed, lead time the median time
from the first alert to the loss; lost told and told lead say the same from the first
notification that reached a manager.</p>
<h2>Alerts per week</h2>
{weekly}
<h2>Per rule, side by side</h2>
{per_rule}
<script type="application/json" id="backtest-data">{_script_json(report)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
