#!/usr/bin/env python3
"""Lists the module dependency edges of every crate under crates/ and the cycles among them.

A module is a source file (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`). An edge A -> B means a
file of module A names an item through B: `use crate::b::..`, `crate::b::..` in code,
`super::b`, `self::b`, or a child `b::..` it declares with `mod b;`. A path is attributed to the
deepest module file it reaches (`crate::a::b::Item` is `a::b` when that file exists, else `a`).
Test code is left out: files named `tests.rs` or under `tests/`, and everything after a
`#[cfg(test)]` line in a file (inline test modules sit at the end of files here).

Cycles are the strongly connected components with more than one module. Why it matters: a
file that is part of a cycle cannot be read, tested or moved without the others.

Usage: .ci/module_cycles.py [--edges] [crate-dir ...]   (default: every crates/*/)
Exit status 1 when a cycle exists.
"""

import os
import re
import sys

PATH_RE = re.compile(r"\b(crate|super|self)((?:::\w+)+)")


def module_files(src):
    """Maps module path tuples to file paths for one crate's src directory."""
    mods = {}
    for root, _dirs, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            if "tests" in rel or "bin" in rel[:1]:
                continue
            mods[tuple(rel)] = full
    return mods


def expand_use(body):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    body = body.strip()
    depth = 0
    for i, ch in enumerate(body):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix = body[:start]
                inner = body[start + 1 : i]
                parts, level, cur = [], 0, ""
                for c in inner:
                    if c == "," and level == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    level += c == "{"
                    level -= c == "}"
                    cur += c
                parts.append(cur)
                out = []
                for p in parts:
                    if p.strip():
                        out.extend(expand_use(prefix + p.strip()))
                return out
    return [body]


def strip_comments_and_tests(text):
    """The code of a file without comments, string/char literals and its trailing test module."""
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif re.match(r'b?r(#*)"', text[i : i + 40]) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'b?r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'":
            # A char literal ('x', '\n', '\'', '\u{..}') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'])'", text[i:])
            if m:
                i += m.end()
                out.append("' '")
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def resolve(path, mods, imports, seen=frozenset()):
    """The deepest module of `mods` that the segment list `path` (absolute) reaches, following
    `use` imports: `crate::Error` is `error` when the root says `pub use error::Error`."""
    best, rest = (), path
    for i in range(1, len(path) + 1):
        if tuple(path[:i]) in mods:
            best, rest = tuple(path[:i]), path[i:]
    if rest and best not in seen and rest[0] in imports.get(best, {}):
        # An import that leads back where it came from is not a re-export (e.g. a `use super::X`
        # inside an inline module), so the item is defined here.
        seen = seen | {best}
        target = resolve(imports[best][rest[0]] + rest[1:], mods, imports, seen)
        if target not in seen:
            return target
    return best


def absolute(segs, mod, children):
    """`segs` (a path as written in module `mod`) as a path from the crate root, or None for
    paths into other crates."""
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] == "super":
        base = list(mod)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        return base + segs
    if segs[0] == "self":
        return list(mod) + segs[1:]
    if segs[0] in children:
        return list(mod) + segs
    return None


def crate_edges(crate_dir):
    src = os.path.join(crate_dir, "src")
    mods = module_files(src)
    texts = {m: strip_comments_and_tests(open(p, encoding="utf-8").read()) for m, p in mods.items()}
    children = {
        m: set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", t, re.M))
        for m, t in texts.items()
    }
    uses = {
        m: [u for x in re.finditer(r"\buse\s+([^;]+);", t) for u in expand_use(x.group(1))]
        for m, t in texts.items()
    }
    imports = {}
    for m, us in uses.items():
        for u in us:
            u = u.replace(" ", "")
            alias = None
            if "as" in u and re.search(r"\bas\b", u.replace("::", " :: ")):
                u, alias = re.split(r"\s*\bas\b\s*", u.replace("::", " :: "))[0].replace(" ", ""), None
            segs = [x for x in u.split("::") if x]
            if not segs or segs[-1] in ("*", "self"):
                continue
            target = absolute(segs, m, children[m])
            if target:
                imports.setdefault(m, {})[alias or segs[-1]] = target
    edges = {m: set() for m in mods}
    for mod, text in texts.items():
        candidates = uses[mod] + [x.group(0) for x in PATH_RE.finditer(text)]
        candidates += [
            child + "::x" for child in children[mod]
            if re.search(r"(?<![:\w])" + child + r"::", text)
        ]
        for c in candidates:
            segs = [x for x in c.replace(" ", "").split("::") if x]
            target = absolute(segs, mod, children[mod]) if segs else None
            if target is None:
                continue
            t = resolve(target, mods, imports)
            if t != mod:
                edges[mod].add(t)
    return edges


def sccs(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) if m else "(root)"


def main():
    args = sys.argv[1:]
    show_edges = "--edges" in args
    args = [a for a in args if a != "--edges"]
    here = os.path.dirname(os.path.abspath(__file__))
    crates = args or sorted(
        os.path.join(here, "..", "crates", c)
        for c in os.listdir(os.path.join(here, "..", "crates"))
    )
    found = 0
    for crate in crates:
        if not os.path.isdir(os.path.join(crate, "src")):
            continue
        edges = crate_edges(crate)
        label = os.path.basename(os.path.normpath(crate))
        if show_edges:
            for m in sorted(edges):
                print(f"{label}: {name(m)} -> {', '.join(name(t) for t in sorted(edges[m])) or '-'}")
        for comp in sccs(edges):
            found += 1
            inner = [
                f"{name(a)} -> {name(b)}" for a in comp for b in sorted(edges[a]) if b in comp
            ]
            print(f"{label}: cycle among {', '.join(name(m) for m in comp)}: {'; '.join(inner)}")
    if not found:
        print("no module cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
