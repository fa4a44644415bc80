#!/usr/bin/env python3
"""Checks that every #include "layer/..." in src/ respects the layer table of
shared/design/ARCHITECTURE.md: a layer may include only itself and the layers below it
that the table allows."""
import os
import re
import sys

ALLOWED = {
    "util": set(),
    "tensor": {"util"},
    "gguf": {"util", "tensor"},
    "kernels": {"util", "tensor"},
    "kv": {"util", "tensor"},
    "store": {"util", "tensor"},
    "tokenizer": {"util", "tensor", "gguf"},
    "model": {"util", "tensor", "gguf", "kernels", "kv"},
    "fuse": {"util", "tensor", "kernels", "tokenizer", "kv", "model", "store"},
    "rag": {"util", "tensor", "tokenizer"},
    "sched": {"util", "tensor", "tokenizer", "kv", "model", "fuse"},
    "engine": {"util", "tensor", "gguf", "kernels", "kv", "store", "tokenizer", "model", "fuse", "sched"},
    "server": {"util", "tensor", "engine", "rag"},
    "cli": {"util", "tensor", "gguf", "engine", "rag", "server"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main(root):
    errors = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            parts = os.path.relpath(path, root).split(os.sep)
            if len(parts) == 1:
                continue  # build files at the top of src/
            layer = parts[0]
            if layer not in ALLOWED:
                errors.append(f"{path}: folder '{layer}' is not a layer of ARCHITECTURE.md")
                continue
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) != layer and m.group(1) not in ALLOWED[layer]:
                        errors.append(f"{path}:{lineno}: layer '{layer}' may not include '{m.group(1)}/'")
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "src"))
