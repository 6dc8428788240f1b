"""Reads the live page's DOM (as `chromium --dump-dom` prints it) on stdin and prints, as JSON,
what tests/live_page.rs asserts on: the endpoints with their stats and chart series, the health,
alerts and SLO sections, and the traces' waterfalls. Python's own HTML parser, no rendering logic
of ours."""

import json
import sys
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.out = {"refreshes": None, "endpoints": [], "health": None, "checks": [], "alerts": None,
                    "alert_items": [], "slos": None, "slo_items": [], "traces": None, "trace_items": []}
        self.endpoint = None
        self.chart = None
        self.trace = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "main" and a.get("id") == "obs-page":
            self.out["refreshes"] = a.get("data-refreshes")
        if tag == "section" and "endpoint" in classes:
            self.endpoint = {"method": a.get("data-method"), "endpoint": a.get("data-endpoint"),
                             "stats": {}, "charts": {}}
            self.out["endpoints"].append(self.endpoint)
            self.trace = None
        if "stat" in classes and self.endpoint is not None and "data-stat" in a:
            self.endpoint["stats"][a["data-stat"]] = a.get("data-value")
        if tag == "svg" and "chart" in classes and self.endpoint is not None:
            self.chart = {}
            self.endpoint["charts"][a.get("data-chart")] = self.chart
        if self.chart is not None and "data-series" in a and "data-values" in a:
            values = [None if v == "" else float(v) for v in a["data-values"].split(",")] if a["data-values"] else []
            self.chart[a["data-series"]] = values
        if tag == "section" and a.get("id") in ("health", "alerts", "slos", "traces"):
            self.endpoint = None
            self.chart = None
            key = a["id"]
            self.out[key] = a.get("data-status") if key == "health" else a.get("data-count")
        if tag == "li" and "check" in classes:
            self.out["checks"].append({"name": a.get("data-check"), "status": a.get("data-status")})
        if tag == "li" and "alert" in classes:
            self.out["alert_items"].append({"name": a.get("data-alert"), "status": a.get("data-status")})
        if tag == "li" and "slo" in classes:
            self.out["slo_items"].append(a.get("data-slo"))
        if tag == "div" and "trace" in classes:
            self.trace = {"id": a.get("data-trace-id"), "root": a.get("data-root"),
                          "duration": float(a.get("data-duration") or "nan"), "spans": []}
            self.out["trace_items"].append(self.trace)
        if tag == "div" and "span" in classes and self.trace is not None:
            self.trace["spans"].append({"id": a.get("data-span-id"), "parent": a.get("data-parent-id") or None,
                                        "name": a.get("data-name"), "depth": int(a.get("data-depth") or -1)})

    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None


page = Page()
page.feed(sys.stdin.read())
print(json.dumps(page.out))
