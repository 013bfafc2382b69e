#!/usr/bin/env python3
"""Prints criterion results of one group as a Markdown table, each row as a ratio to a floor.

usage: tools/bench-report.py GROUP FLOOR_ID [target/criterion]
Reads target/criterion/GROUP/<id>/new/estimates.json (mean, 95% CI) for every benchmark
of the group; the floor is the benchmark named FLOOR_ID, measured in the same run.
"""

import json
import pathlib
import sys


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    group, floor_id = sys.argv[1], sys.argv[2]
    root = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "target/criterion") / group
    rows = {}
    for estimates in sorted(root.glob("*/new/estimates.json")):
        mean = json.loads(estimates.read_text())["mean"]
        ci = mean["confidence_interval"]
        rows[estimates.parent.parent.name] = (mean["point_estimate"], ci["lower_bound"], ci["upper_bound"])
    if floor_id not in rows:
        print(f"no results for {group}/{floor_id} under {root}", file=sys.stderr)
        return 1
    floor = rows[floor_id][0]
    print(f"| {group} | mean | 95% CI | × floor |")
    print("|---|---|---|---|")
    for name, (mean, low, high) in sorted(rows.items(), key=lambda r: r[1][0]):
        print(f"| `{name}` | {fmt(mean)} | {fmt(low)} – {fmt(high)} | {mean / floor:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
