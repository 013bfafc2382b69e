#!/usr/bin/env python3
"""Instructions per operation, counted by callgrind, each row as a ratio to its group's floor.

usage: tools/bench-instructions.py [ITERATIONS]   (default 200; needs valgrind)

Builds `functions/authorizer/benches/instructions.rs` with the bench profile, runs each of
its rows under callgrind counting only its measured loop, and prints one Markdown table per
group. Instruction counts are deterministic where wall-clock means on a shared machine are
not; they do not see cache misses or the cost of one instruction against another.
"""

import json
import re
import subprocess
import sys
import tempfile

FLOORS = {
    "verify": "rsa_verify_floor",
    "decision_http": "no_policies",
    "decision_rest": "no_policies",
    "machine_cache": "hashmap_floor",
}


def executable() -> str:
    out = subprocess.run(
        ["cargo", "bench", "-p", "authorizer", "--bench", "instructions", "--no-run",
         "--message-format=json"],
        check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "instructions" \
                and message.get("executable"):
            return message["executable"]
    sys.exit("the instructions bench was not built")


def rows(binary: str) -> list[str]:
    return subprocess.run([binary, "--rows"], check=True, capture_output=True, text=True).stdout.split()


def count(binary: str, row: str, iterations: int) -> float:
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
             "--collect-atstart=no", "--toggle-collect=*measured*", binary, row, str(iterations)],
            check=True, capture_output=True,
        )
        totals = re.search(rb"^totals: (\d+)", open(out.name, "rb").read(), re.M)
        return int(totals.group(1)) / iterations


def main() -> int:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    binary = executable()
    counts: dict[str, dict[str, float]] = {}
    for row in rows(binary):
        group, name = row.split("/")
        counts.setdefault(group, {})[name] = count(binary, row, iterations)
    for group, measured in counts.items():
        floor = measured[FLOORS[group]]
        print(f"| {group} | instructions | × floor |")
        print("|---|---|---|")
        for name, n in sorted(measured.items(), key=lambda r: r[1]):
            print(f"| `{name}` | {n / 1000:.1f} k | {n / floor:.3f}× |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
