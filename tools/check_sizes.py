#!/usr/bin/env python3
"""Checks the size limits of docs/ARCHITECTURE.md on src/: no source file over MAX_FILE_LINES
lines and no function body over MAX_FUNCTION_LINES lines.

A function is a brace block at namespace or class scope whose head ends like a function
(`)` then optional qualifiers, `override`, a trailing return type or a member-initializer
list); lambdas and nested blocks count toward the function that holds them. The scan drops
comments, string and character literals (raw strings included) before counting braces."""
import os
import re
import sys

MAX_FILE_LINES = 350
MAX_FUNCTION_LINES = 80
SOURCE_SUFFIXES = (".cpp", ".h")
# What may follow the closing parenthesis of a parameter list before the body's brace.
FUNCTION_TAIL = re.compile(
    r"\)\s*(const|noexcept|override|final|mutable|&|&&|\s)*"
    r"(->\s*[\w:<>,\s\*&]+)?\s*(:\s*[^;{}]*)?$")


def strip_literals(text):
    """Replaces comments and string/char literals with spaces, keeping newlines."""
    out = []
    i, n = 0, len(text)
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
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            open_paren = text.find("(", i)
            delim = text[i + 2:open_paren]
            j = text.find(")" + delim + '"', open_paren)
            j = n if j < 0 else j + len(delim) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def long_functions(text):
    """Yields (first line, line count) of each function body longer than the limit."""
    code = strip_literals(text)
    depth_kinds = []  # per open brace: True when it opens a function body or lies inside one
    head_start = 0
    line = 1
    body_start_line = 0
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "{":
            inside_function = any(depth_kinds)
            head = code[head_start:i].strip()
            opens_function = not inside_function and bool(FUNCTION_TAIL.search(head)) \
                and not re.match(r"^(namespace|struct|class|enum|union)\b", head.split("\n")[-1].strip())
            if opens_function:
                body_start_line = line
            depth_kinds.append(opens_function or inside_function)
            head_start = i + 1
        elif c == "}":
            if depth_kinds:
                was_function = depth_kinds.pop()
                if was_function and not any(depth_kinds):
                    length = line - body_start_line + 1
                    if length > MAX_FUNCTION_LINES:
                        yield body_start_line, length
            head_start = i + 1
        elif c == ";" and not any(depth_kinds):
            head_start = i + 1
    return


def main(root):
    errors = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            lines = text.count("\n")
            if lines > MAX_FILE_LINES:
                errors.append(f"{path}: {lines} lines (limit {MAX_FILE_LINES})")
            for first, length in long_functions(text):
                errors.append(f"{path}:{first}: function of {length} lines (limit {MAX_FUNCTION_LINES})")
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
