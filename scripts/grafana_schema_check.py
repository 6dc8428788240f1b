"""Checks a Grafana dashboard JSON (a file, or stdin) against Grafana's own dashboard schema, as
the Grafana Foundation SDK's generated models (PyPI `grafana-foundation-sdk`, Grafana 11.6's
schema) encode it: the dashboard is decoded into the models (panels by their type's options and
field config, queries by their data source's type) and encoded again, and every key and value of
the input must come back unchanged, so a key the schema does not know, or an object where it
wants another shape, is named here. The models copy scalars unchecked, so the values the schema
constrains are checked against its own enums and types: panel types (a registered panel plugin),
the cursor sync, variable types and refresh, grid positions (integers). Exit 0 when the dashboard
passes, 1 when not.

Usage: target/otel-venv/bin/python scripts/grafana_schema_check.py DASHBOARD.json
"""

import json
import sys

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.cog.runtime import UnknownDataquery, panelcfg_config
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardCursorSync,
    Panel,
    RowPanel,
    VariableRefresh,
    VariableType,
)


def lost(original, back, path):
    """What of `original` is not in `back`, as (path, what) pairs."""
    if isinstance(original, dict):
        if not isinstance(back, dict):
            return [(path, f"an object became {json.dumps(back)}")]
        out = []
        for key, value in original.items():
            if key not in back:
                out.append((f"{path}.{key}", "not in the schema: dropped"))
            else:
                out.extend(lost(value, back[key], f"{path}.{key}"))
        return out
    if isinstance(original, list):
        if not isinstance(back, list) or len(back) != len(original):
            return [(path, f"a list of {len(original)} became {json.dumps(back)[:200]}")]
        out = []
        for index, (a, b) in enumerate(zip(original, back)):
            out.extend(lost(a, b, f"{path}[{index}]"))
        return out
    # Numbers compare as numbers (1 and 1.0 are one JSON number).
    if original != back:
        return [(path, f"{json.dumps(original)} became {json.dumps(back)}")]
    return []


def unknown_kinds(dashboard):
    """Panels and queries the SDK could not type: their type is not one Grafana has."""
    out = []
    for index, panel in enumerate(dashboard.panels or []):
        if isinstance(panel, RowPanel):
            continue
        if isinstance(panel, Panel):
            for query_index, query in enumerate(panel.targets or []):
                if isinstance(query, UnknownDataquery):
                    out.append((f"$.panels[{index}].targets[{query_index}]", "a query of no known data source type"))
    return out


def constrained(original):
    """The values the schema constrains that the models do not check."""
    out = []

    def enum(path, value, kind):
        try:
            kind(value)
        except ValueError:
            out.append((path, f"{json.dumps(value)} is not one of {[member.value for member in kind]}"))

    if "graphTooltip" in original:
        enum("$.graphTooltip", original["graphTooltip"], DashboardCursorSync)
    for index, variable in enumerate(original.get("templating", {}).get("list", [])):
        enum(f"$.templating.list[{index}].type", variable.get("type"), VariableType)
        if "refresh" in variable:
            enum(f"$.templating.list[{index}].refresh", variable["refresh"], VariableRefresh)
    for index, panel in enumerate(original.get("panels", [])):
        kind = panel.get("type")
        if kind != "row" and panelcfg_config(kind) is None:
            out.append((f"$.panels[{index}].type", f"{json.dumps(kind)} is no panel plugin Grafana has"))
        for key, value in panel.get("gridPos", {}).items():
            if key in ("h", "w", "x", "y") and (not isinstance(value, int) or isinstance(value, bool)):
                out.append((f"$.panels[{index}].gridPos.{key}", f"{json.dumps(value)} is not an integer"))
    return out


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    original = json.loads(text)
    register_default_plugins()
    dashboard = Dashboard.from_json(original)
    back = json.loads(json.dumps(dashboard, cls=JSONEncoder))
    problems = lost(original, back, "$") + unknown_kinds(dashboard) + constrained(original)
    for path, what in problems:
        print(f"{path}: {what}")
    if problems:
        sys.exit(1)
    panels = sum(1 for panel in dashboard.panels or [] if not isinstance(panel, RowPanel))
    print(f"grafana schema: ok ({panels} panels)")


if __name__ == "__main__":
    main()
