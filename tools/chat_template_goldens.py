#!/usr/bin/env python3
"""Writes the expected renderings of tests/data/chat/*.jinja with Python's jinja2, set up as
Hugging Face transformers' apply_chat_template sets it up (trim_blocks, lstrip_blocks,
loop controls, raise_exception, a tojson that keeps non-ASCII text). The C++ renderer
must produce the same bytes (tests/tokenizer/chat_template_test.cpp).

Run from the repository root (needs python3-jinja2, only to regenerate the goldens):
    python3 tools/chat_template_goldens.py
"""
import json
import pathlib

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

DATA = pathlib.Path("tests/data/chat")

# Must match kConversations in tests/tokenizer/chat_template_test.cpp.
FULL = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"},
]
CONVERSATIONS = {"full": FULL, "nosys": FULL[1:], "single": [{"role": "user", "content": "ünïcödé \"quoted\" 🦙"}]}
# Must match kSpecialTokens in the test.
SPECIAL = {
    "chatml": ("", ""), "mistral": ("<s>", "</s>"), "gemma": ("<bos>", "<eos>"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"), "phi3": ("<s>", "<|endoftext|>"),
    "qwen2": ("", "<|im_end|>"), "smollm2": ("", "<|im_end|>"),
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    for name, (bos, eos) in SPECIAL.items():
        template = env.from_string((DATA / f"{name}.jinja").read_text())
        for conv_name, messages in CONVERSATIONS.items():
            for gen in (False, True):
                stem = f"{name}.{conv_name}.{'gen' if gen else 'nogen'}"
                try:
                    out = template.render(messages=messages, tools=None, documents=None, add_generation_prompt=gen,
                                          bos_token=bos, eos_token=eos)
                    (DATA / f"{stem}.expected").write_bytes(out.encode())
                except jinja2.exceptions.TemplateError:
                    (DATA / f"{stem}.error").write_text("")


if __name__ == "__main__":
    main()
