"""Logits of a qwen3 or gemma3 GGUF model (f32 weights), computed in torch from the published
model definitions (Hugging Face transformers' Qwen3 and Gemma 3 text models), in float64.

    reference_logits.py MODEL.gguf TOKENS.i32 OUT.f64

TOKENS.i32 holds little-endian int32 token ids at positions 0..n-1 of one sequence; OUT.f64
receives [n, n_vocab] little-endian float64 logits. kvfuse's forward is tested against it
(tests/model/torch_reference_test.cpp). Nothing here reads kvfuse's code.

What GGUF does not carry is taken from the models' published configurations:
  gemma3: sliding_window_pattern 6 (every sixth layer attends globally), rope_local_base_freq
          10000 (the sliding layers' RoPE, unscaled), query_pre_attn_scalar = head_dim (every
          size but 27B). llama.cpp's converter stores Gemma's norm weights plus one, and
          Gemma3RMSNorm multiplies by (1 + weight): the stored value is used as (1 + (w - 1)).
"""
import sys

import numpy as np
import torch

import gguf_f32


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x, positions, base, scale):
    """x: [heads, tokens, head_dim]; NeoX halves, angles position / scale * base^(-2i/d)."""
    dim = x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)) / scale
    angles = positions[:, None].double() * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def attention(q, k, v, scaling, window):
    """q: [heads, T, d], k/v: [kv_heads, T, d]; causal, and within `window` when > 0."""
    group = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(group, dim=0)
    v = v.repeat_interleave(group, dim=0)
    scores = (q @ k.transpose(1, 2)) * scaling
    n = q.shape[1]
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    allowed = j <= i
    if window > 0:
        allowed &= (i - j) < window
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class Model:
    def __init__(self, path):
        meta, tensors = gguf_f32.read(path)
        self.arch = meta["general.architecture"]
        if self.arch not in ("qwen3", "gemma3"):
            raise ValueError(f"{path}: architecture {self.arch}; this reference knows qwen3 and gemma3")
        p = self.arch + "."
        self.w = {name: torch.from_numpy(np.array(t, dtype=np.float64)) for name, t in tensors.items()}
        self.n_embd = meta[p + "embedding_length"]
        self.n_layers = meta[p + "block_count"]
        self.n_heads = meta[p + "attention.head_count"]
        self.n_kv_heads = meta.get(p + "attention.head_count_kv", self.n_heads)
        self.head_dim = meta.get(p + "attention.key_length", self.n_embd // self.n_heads)
        self.eps = meta[p + "attention.layer_norm_rms_epsilon"]
        self.theta = meta.get(p + "rope.freq_base", 10000.0)
        self.rope_scale = meta.get(p + "rope.scaling.factor", 1.0) if meta.get(p + "rope.scaling.type", "linear") == "linear" else 1.0
        self.window = meta.get(p + "attention.sliding_window", 0)

    def norm(self, x, name):
        weight = self.w[name]
        if self.arch == "gemma3":
            weight = 1.0 + (weight - 1.0)  # Gemma3RMSNorm's (1 + w); the file stores w + 1
        return rms_norm(x, weight, self.eps)

    def layer(self, h, il, positions):
        b = f"blk.{il}."
        n = h.shape[0]
        x = self.norm(h, b + "attn_norm.weight")
        q = (x @ self.w[b + "attn_q.weight"].T).view(n, self.n_heads, self.head_dim).transpose(0, 1)
        k = (x @ self.w[b + "attn_k.weight"].T).view(n, self.n_kv_heads, self.head_dim).transpose(0, 1)
        v = (x @ self.w[b + "attn_v.weight"].T).view(n, self.n_kv_heads, self.head_dim).transpose(0, 1)
        q = self.norm(q, b + "attn_q_norm.weight")
        k = self.norm(k, b + "attn_k_norm.weight")
        window, base, scale = 0, self.theta, self.rope_scale
        if self.arch == "gemma3" and (il + 1) % 6 != 0:  # a sliding layer
            window, base, scale = self.window, 10000.0, 1.0
        q, k = rope(q, positions, base, scale), rope(k, positions, base, scale)
        out = attention(q, k, v, self.head_dim ** -0.5, window).transpose(0, 1).reshape(n, -1)
        out = out @ self.w[b + "attn_output.weight"].T
        if self.arch == "gemma3":
            out = self.norm(out, b + "post_attention_norm.weight")
        h = h + out
        x = self.norm(h, b + "ffn_norm.weight")
        gate = x @ self.w[b + "ffn_gate.weight"].T
        act = torch.nn.functional.gelu(gate, approximate="tanh") if self.arch == "gemma3" else torch.nn.functional.silu(gate)
        out = (act * (x @ self.w[b + "ffn_up.weight"].T)) @ self.w[b + "ffn_down.weight"].T
        if self.arch == "gemma3":
            out = self.norm(out, b + "post_ffw_norm.weight")
        return h + out

    def logits(self, tokens):
        positions = torch.arange(len(tokens))
        h = self.w["token_embd.weight"][torch.tensor(tokens)]
        if self.arch == "gemma3":
            h = h * (self.n_embd ** 0.5)
        for il in range(self.n_layers):
            h = self.layer(h, il, positions)
        h = self.norm(h, "output_norm.weight")
        return h @ self.w.get("output.weight", self.w["token_embd.weight"]).T


def main():
    model_path, tokens_path, out_path = sys.argv[1:4]
    tokens = np.fromfile(tokens_path, dtype="<i4").tolist()
    with torch.no_grad():
        logits = Model(model_path).logits(tokens)
    logits.numpy().astype("<f8").tofile(out_path)


if __name__ == "__main__":
    main()
