"""Parses an exposition body from stdin with the official Python client's parser, prints JSON.

Usage: python parse_exposition.py text|openmetrics < body

`text` is prometheus_client.parser (the Prometheus text format 0.0.4), `openmetrics` is
prometheus_client.openmetrics.parser (strict: it raises on anything OpenMetrics 1.0 forbids,
including a missing `# EOF`). Prints {"families": [{"name", "type", "help", "samples": [{"name",
"labels", "value", "exemplar": null or {"labels", "value", "timestamp"}}]}]}; a value that JSON cannot hold (NaN, +Inf, -Inf) is printed as that string.
On a parse error prints the error to stderr and exits 1.
"""

import json
import math
import sys


def value(number):
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return float(number)


def exemplar(found):
    if found is None:
        return None
    timestamp = found.timestamp
    return {"labels": found.labels, "value": value(found.value), "timestamp": None if timestamp is None else float(timestamp)}


def main():
    fmt = sys.argv[1]
    if fmt == "text":
        from prometheus_client.parser import text_string_to_metric_families
    elif fmt == "openmetrics":
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        sys.exit(f"unknown format {fmt!r}: text or openmetrics")
    body = sys.stdin.buffer.read().decode("utf-8")
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    {
                        "name": sample.name,
                        "labels": sample.labels,
                        "value": value(sample.value),
                        "exemplar": exemplar(sample.exemplar),
                    }
                    for sample in family.samples
                ],
            }
            for family in text_string_to_metric_families(body)
        ]
    except Exception as error:  # the parsers raise ValueError and others
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    json.dump({"families": families}, sys.stdout, ensure_ascii=False)


main()
