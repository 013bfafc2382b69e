#!/usr/bin/env python3
"""Prints which top-level modules of the `shared` crate use which, and fails on a cycle.

`make check` runs it: the crate's modules form a one-way graph (`services` at the top,
wiring the others), and a change that makes two modules depend on each other is refused
here rather than found later. Reads `use crate::…` and `crate::…` paths outside comments;
names that `lib.rs` re-exports (`crate::Config`) count as their module.
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "shared" / "src"


def reexports(lib: str) -> dict[str, str]:
    """Maps each name `lib.rs` re-exports to the module it comes from."""
    names = {}
    for module, body in re.findall(r"pub use (\w+)::\{([^}]*)\};", lib):
        for name in body.split(","):
            if name.strip():
                names[name.strip()] = module
    for module, name in re.findall(r"pub use (\w+)::(\w+);", lib):
        names[name] = module
    return names


def top_level_names(text: str, start: int) -> list[str]:
    """The first segment of each path in the `{…}` group that opens at `start`."""
    depth, item, names = 0, "", []
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                names.append(item)
                break
        if depth == 1 and ch == ",":
            names.append(item)
            item = ""
        elif depth >= 1:
            item += ch
    return [re.split(r"::|\s", n.strip())[0] for n in names if n.strip()]


def graph() -> dict[str, set[str]]:
    lib = (SRC / "lib.rs").read_text()
    modules = re.findall(r"^(?:pub )?mod (\w+);", lib, re.M)
    names = reexports(lib)
    edges = {m: set() for m in modules}
    for module in modules:
        files = [SRC / f"{module}.rs"] + sorted((SRC / module).rglob("*.rs"))
        for path in filter(pathlib.Path.exists, files):
            # Doc links are not dependencies: comments are dropped.
            text = re.sub(r"(?m)^\s*//.*$", "", path.read_text())
            used = []
            for match in re.finditer(r"crate::(\{|\w+)", text):
                if match.group(1) == "{":
                    used += top_level_names(text, match.start(1))
                else:
                    used.append(match.group(1))
            for name in used:
                target = names.get(name, name)
                if target in edges and target != module:
                    edges[module].add(target)
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, if there is any."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def main() -> int:
    edges = graph()
    for module in sorted(edges):
        uses = ", ".join(sorted(edges[module])) or "-"
        print(f"{module} -> {uses}")
    found = cycle(edges)
    if found:
        print("shared has a module cycle: " + " -> ".join(found), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
