#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a loop.

For each crate source directory given, every `.rs` file is a module (`a/b.rs` and `a/b/mod.rs`
are `a::b`). An edge A -> B is a `use crate::...`, `use super::...` or a `crate::x::y` path in A's
code that names B (or something inside B). Two kinds of loop are reported:

- between sibling modules (children of one parent, e.g. `world::ops` <-> `world::dynamics`,
  each side counted with everything below it), which is what "an import loop in world/" means;
- between the dispatcher (`app`, the module that runs commands) and any other module: commands
  sit below the dispatcher and never import it.

Usage: check-module-cycles.py DIR [DIR ...]   (e.g. agent/src testbed/src). Exit 1 on a loop.
"""

import os
import re
import sys

USE = re.compile(r"\b(?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+")


def modules(src):
    found = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            found[tuple(parts)] = os.path.join(dirpath, name)
    return found


def strip_tests(text):
    """Code before the first `#[cfg(test)]` (test modules may import anything), without
    comments (a doc link names a module without depending on it)."""
    i = text.find("#[cfg(test)]")
    code = text if i < 0 else text[:i]
    return "\n".join(line.split("//")[0] for line in code.split("\n"))


def edges(found):
    result = {m: set() for m in found}
    for module, path in found.items():
        text = strip_tests(open(path, encoding="utf-8").read())
        # `use a::{b, c::d}` groups: expand one level, enough for module names.
        for group in re.finditer(r"\b((?:crate|super)(?:::\w+)*)::\{([^}]*)\}", text):
            base = group.group(1)
            for item in group.group(2).split(","):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    text += f"\n{base}::{item}\n"
        for match in USE.finditer(text):
            segs = match.group(0).split("::")
            if segs[0] == "crate":
                target = segs[1:]
            else:
                # Each `super` is the parent of the module it is written in.
                target = list(module)
                while segs and segs[0] == "super":
                    segs = segs[1:]
                    target = target[:-1]
                target = target + segs
            # the longest existing module path
            for n in range(len(target), 0, -1):
                candidate = tuple(target[:n])
                if candidate in found:
                    if candidate != module:
                        result[module].add(candidate)
                    break
    return result


def under(a, b):
    return a[: len(b)] == b


def sibling_loops(found, graph):
    loops = []
    parents = {m[:-1] for m in found if m}
    for parent in sorted(parents):
        children = sorted({m[: len(parent) + 1] for m in found if len(m) > len(parent) and under(m, parent)})
        reach = {}
        for c in children:
            targets = set()
            for m in found:
                if under(m, c):
                    for t in graph[m]:
                        for d in children:
                            if d != c and under(t, d):
                                targets.add(d)
            reach[c] = targets
        # cycles in the children graph (DFS)
        state = {}
        stack = []

        def visit(node):
            state[node] = 1
            stack.append(node)
            for nxt in sorted(reach[node]):
                if state.get(nxt) == 1:
                    loops.append(stack[stack.index(nxt):] + [nxt])
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[node] = 2

        for c in children:
            if c not in state:
                visit(c)
    return loops


def main():
    failed = False
    for src in sys.argv[1:]:
        found = modules(src)
        graph = edges(found)
        for loop in sibling_loops(found, graph):
            failed = True
            print(f"{src}: import loop: " + " -> ".join("::".join(m) or "crate" for m in loop))
        app = ("app",)
        if app in found:
            for m, targets in sorted(graph.items()):
                if m != app and any(under(t, app) for t in targets):
                    failed = True
                    print(f"{src}: {'::'.join(m)} imports the dispatcher `app`")
    if failed:
        sys.exit(1)
    print("no import loops in " + ", ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
