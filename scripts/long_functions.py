#!/usr/bin/env python3
"""List non-test Rust functions longer than a limit (default 100 lines), by brace count.

Usage: scripts/long_functions.py [--limit N] [DIR ...]   (default: crates src)

A function runs from its `fn` line to the line whose closing brace balances the body's opening
one. Strings, chars and comments are skipped so braces inside them do not count. Code inside a
`#[cfg(test)]` module is left out. Standard library only.
"""
import argparse
import pathlib
import re

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def strip_code(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_module_lines(lines):
    """Line numbers inside `#[cfg(test)]` items."""
    inside, skip, depth, armed = set(), False, 0, False
    for k, line in enumerate(lines):
        if not skip and "#[cfg(test)]" in line:
            armed = True
        if armed and not skip and "{" in line:
            skip, depth, armed = True, 0, False
        if skip:
            inside.add(k)
            depth += line.count("{") - line.count("}")
            if depth <= 0 and "}" in line:
                skip = False
        elif armed and line.strip().endswith(";"):
            armed = False
    return inside


def long_functions(path, limit):
    lines = strip_code(path.read_text()).split("\n")
    tests = test_module_lines(lines)
    found = []
    for k, line in enumerate(lines):
        m = FN.match(line)
        if not m or k in tests:
            continue
        depth, opened = 0, False
        for j in range(k, len(lines)):
            if not opened and ";" in lines[j] and "{" not in lines[j]:
                break  # a declaration without a body (trait method)
            depth += lines[j].count("{") - lines[j].count("}")
            opened = opened or "{" in lines[j]
            if opened and depth <= 0:
                if j - k + 1 > limit:
                    found.append((j - k + 1, f"{path}:{k + 1}", m.group(7)))
                break
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("dirs", nargs="*", default=["crates", "src"])
    args = parser.parse_args()
    found = []
    for d in args.dirs:
        for path in sorted(pathlib.Path(d).rglob("*.rs")):
            found += long_functions(path, args.limit)
    for length, place, name in sorted(found, reverse=True):
        print(f"{length:5}  {name}  {place}")
    print(f"{len(found)} functions over {args.limit} lines")


if __name__ == "__main__":
    main()
