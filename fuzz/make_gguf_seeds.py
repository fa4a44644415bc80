#!/usr/bin/env python3
"""Writes the small GGUF seeds of fuzz_gguf_reader (fuzz/corpus/fuzz_gguf_reader/): a llama
header with a byte-level BPE vocabulary and merges, one with a SentencePiece vocabulary,
each with one tensor. Usage: make_gguf_seeds.py DIR"""
import struct
import sys

U32, I32, F32, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = s(key) + struct.pack("<I", vtype)
    if vtype == U32:
        return out + struct.pack("<I", value)
    if vtype == I32:
        return out + struct.pack("<i", value)
    if vtype == F32:
        return out + struct.pack("<f", value)
    if vtype == BOOL:
        return out + struct.pack("<B", value)
    if vtype == STR:
        return out + s(value)
    etype, items = value
    body = struct.pack("<IQ", etype, len(items))
    for x in items:
        body += s(x) if etype == STR else struct.pack({I32: "<i", F32: "<f"}[etype], x)
    return out + body


def gguf(kvs, tensor_elems=8):
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs)
    head += s("token_embd.weight") + struct.pack("<IQQIQ", 2, 4, tensor_elems // 4, 0, 0)
    head += b"\0" * (-len(head) % 32)
    return head + struct.pack("<%df" % tensor_elems, *range(tensor_elems))


def llama_header():
    return [kv("general.architecture", STR, "llama"), kv("llama.context_length", U32, 64),
            kv("llama.embedding_length", U32, 4), kv("llama.block_count", U32, 1),
            kv("llama.feed_forward_length", U32, 8), kv("llama.attention.head_count", U32, 1),
            kv("llama.attention.head_count_kv", U32, 1), kv("llama.rope.freq_base", F32, 10000.0),
            kv("llama.attention.layer_norm_rms_epsilon", F32, 1e-5)]


def bpe_seed():
    tokens = [bytes([b]).decode("latin-1") for b in range(33, 127)] + ["he", "ll", "hell", "<s>", "</s>"]
    merges = ["h e", "l l", "he ll"]
    return gguf(llama_header() + [
        kv("tokenizer.ggml.model", STR, "gpt2"), kv("tokenizer.ggml.pre", STR, "gpt-2"),
        kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.token_type", ARR, (I32, [1] * (len(tokens) - 2) + [3, 3])),
        kv("tokenizer.ggml.merges", ARR, (STR, merges)),
        kv("tokenizer.ggml.bos_token_id", U32, len(tokens) - 2), kv("tokenizer.ggml.eos_token_id", U32, len(tokens) - 1),
        kv("tokenizer.chat_template", STR, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")])


def spm_seed():
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["\u2581he", "llo", "\u2581"]
    types = [2, 3, 3] + [6] * 256 + [1, 1, 1]
    return gguf(llama_header() + [
        kv("tokenizer.ggml.model", STR, "llama"), kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.scores", ARR, (F32, [0.0] * 259 + [-1.0, -2.0, -3.0])),
        kv("tokenizer.ggml.token_type", ARR, (I32, types)),
        kv("tokenizer.ggml.bos_token_id", U32, 1), kv("tokenizer.ggml.eos_token_id", U32, 2)])


if __name__ == "__main__":
    for name, data in (("bpe.gguf", bpe_seed()), ("spm.gguf", spm_seed())):
        with open(f"{sys.argv[1]}/{name}", "wb") as f:
            f.write(data)
