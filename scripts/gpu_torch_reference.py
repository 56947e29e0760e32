#!/usr/bin/env python3
"""PyTorch versions of the ReDrafter GPU operators, in the style of apple/ml-recurrent-drafter (tensor-wide
broadcasts: its tree_attention.py dedup/pack and its beam search), timed on the GPU with CUDA events at the
shapes native/cuda/gpu_check.cu times. Prints one line per operator: `<name> <median microseconds>`.
Written for this project (not copied); used by scripts/test-gpu.sh as the baseline column."""
import math
import os
import sys

import torch

DEV = os.environ.get("REDRAFTER_TORCH_DEVICE", "cuda")


def time_us(fn, batch=20, reps=25):
    if DEV != "cuda":  # smoke test of the operators' code without a GPU: one call, no timing
        fn()
        return float("nan")
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(batch):
            fn()
        b.record()
        b.synchronize()
        times.append(1000.0 * a.elapsed_time(b) / batch)
    times.sort()
    return times[len(times) // 2]


# ---- build tree: Apple's _dedup_prefix + _pack_beams, plus the packed int32 mask -------------------------
def dedup_prefix(beams):
    # beams [B, W, L] -> prefix_tree [B, W, L]: the first beam sharing beam w's prefix [0..l]
    B, W, L = beams.shape
    matches = beams[:, :, None, :] == beams[:, None, :, :]  # [B, W, W, L]
    seq_matches = torch.cumsum(matches.int(), dim=-1) == torch.arange(1, L + 1, device=beams.device)
    return torch.argmax(seq_matches.int(), dim=2)  # first True along the candidate beams


def build_tree(beams):
    B, W, L = beams.shape
    C = W * L
    prefix_tree = dedup_prefix(beams)
    selected = prefix_tree == torch.arange(W, device=beams.device)[None, :, None]  # [B, W, L]
    flat = selected.view(B, C)
    packed_pos = torch.cumsum(flat.int(), dim=1) - 1  # packed index of each first occurrence
    lengths = flat.sum(1)
    slot = torch.where(flat, packed_pos, torch.full_like(packed_pos, C))  # C: a dump column
    tokens = torch.zeros(B, C + 1, dtype=beams.dtype, device=beams.device).scatter_(1, slot.long(), beams.view(B, C))[:, :C]
    depth = torch.arange(L, device=beams.device).repeat(W)[None, :].expand(B, C)
    positions = torch.full((B, C + 1), -1, dtype=torch.int64, device=beams.device).scatter_(1, slot.long(), depth)[:, :C]
    # unpacker[b, w, l] = packed index of (prefix_tree[b, w, l], l)
    owner_flat = prefix_tree * L + torch.arange(L, device=beams.device)[None, None, :]
    unpacker = torch.gather(packed_pos, 1, owner_flat.view(B, C)).view(B, W, L)
    # mask[b, unpacker[w, l], unpacker[w, l']] = 1 for l' <= l
    causal = torch.tril(torch.ones(L, L, dtype=torch.bool, device=beams.device))
    rows = unpacker[:, :, :, None].expand(B, W, L, L)
    cols = unpacker[:, :, None, :].expand(B, W, L, L)
    bidx = torch.arange(B, device=beams.device)[:, None, None, None].expand(B, W, L, L)
    mask = torch.zeros(B, C, C, dtype=torch.int32, device=beams.device)
    mask.index_put_((bidx, rows.long(), cols.long()), causal.int().expand(B, W, L, L), accumulate=True)
    mask = mask > 0
    words = (C + 31) // 32
    padded = torch.zeros(B, C, words * 32, dtype=torch.int64, device=beams.device)
    padded[:, :, :C] = mask.long()
    weights = 2 ** torch.arange(32, device=beams.device, dtype=torch.int64)
    packed = (padded.view(B, C, words, 32) * weights).sum(-1).to(torch.int32)  # int64 sum wraps to int32 bits
    return lengths, tokens, positions, unpacker, packed


# ---- beam search step: Apple's logit processing and the top-W over W*V -------------------------------------
def beam_search_step(logits, scores, top_k=50):
    B, W, V = logits.shape
    logits = logits - logits.max(dim=-1, keepdim=True).values
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    logits = torch.where(logits < kth, torch.full_like(logits, -50000.0), logits)
    log_probs = torch.log_softmax(logits, dim=-1)
    cand = (scores[..., None] + log_probs).view(B, W * V)
    top = torch.topk(cand, W, dim=-1)
    return top.values, torch.div(top.indices, V, rounding_mode="floor"), top.indices % V


# ---- tree attention: masked attention of the tree tokens against the cache, as Apple's tree attention ------
def tree_attention(q, k, v, past, tree_len, packed_mask):
    # q [B, Hq, T, D]; k, v [B, Hkv, S, D] with S = past + T slots; packed_mask [B, T, words] int32
    B, Hq, T, D = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    bits = (packed_mask[..., None] >> torch.arange(32, device=q.device, dtype=torch.int32)) & 1
    tree_mask = bits.view(B, T, -1)[:, :, :T].bool()  # [B, T, T]
    pos = torch.arange(S, device=q.device)
    visible = (pos[None, None, :] < past[:, None, None]).expand(B, T, S).clone()
    j = pos - past[:, None]  # [B, S] tree index of each slot
    in_tree = (j >= 0) & (j < tree_len[:, None])
    jt = j.clamp(0, T - 1)
    visible |= in_tree[:, None, :] & torch.gather(tree_mask, 2, jt[:, None, :].expand(B, T, S))
    k = k.repeat_interleave(Hq // Hkv, dim=1)
    v = v.repeat_interleave(Hq // Hkv, dim=1)
    att = (q @ k.transpose(-1, -2)).float() / math.sqrt(D)
    att = att.masked_fill(~visible[:, None], float("-inf"))
    return torch.softmax(att, dim=-1).to(q.dtype) @ v


# ---- accept + commit: greedy verification and the K/V compaction -----------------------------------------
def accept_commit(beams, unpacker, argmax, past, kcache, vcache):
    B, W, L = beams.shape
    pred = torch.gather(argmax, 1, unpacker.view(B, -1)).view(B, W, L)
    match = beams[:, :, 1:] == pred[:, :, :-1]
    accepted = torch.cumprod(match.int(), dim=-1).sum(-1)  # [B, W]
    best_len, best = accepted.max(dim=-1)
    path = unpacker[torch.arange(B, device=beams.device), best]  # [B, L]
    next_token = torch.gather(argmax, 1, torch.gather(path, 1, best_len[:, None]))
    k_idx = torch.arange(L, device=beams.device)[None, :]
    src = past[:, None] + path
    dst = torch.where(k_idx <= best_len[:, None], past[:, None] + k_idx, src)
    for cache in (kcache, vcache):  # [layers, B, H, S, D]
        layers, _, H, _, D = cache.shape
        si = src[None, :, None, :, None].expand(layers, B, H, L, D)
        di = dst[None, :, None, :, None].expand(layers, B, H, L, D)
        cache.scatter_(3, di, torch.gather(cache, 3, si))
    return best, best_len, next_token


def main():
    torch.manual_seed(0)
    out = []
    beams = torch.randint(0, 1000, (64, 8, 5), device=DEV, dtype=torch.int32)
    beams[:, :, 0] = beams[:, :1, 0]
    out.append(("build_tree", time_us(lambda: build_tree(beams))))

    logits = torch.randn(8, 8, 32000, device=DEV) * 4
    scores = -torch.rand(8, 8, device=DEV) * 10
    out.append(("beam_search", time_us(lambda: beam_search_step(logits, scores))))

    for name, dtype, B, past_len in (("tree_attention_4k", torch.float16, 8, 4096),
                                     ("tree_attention_32k_paged", torch.bfloat16, 2, 32768)):
        T, Hq, Hkv, D = 33, 32, 8, 128
        q = torch.randn(B, Hq, T, D, device=DEV, dtype=dtype)
        k = torch.randn(B, Hkv, past_len + T, D, device=DEV, dtype=dtype)
        v = torch.randn_like(k)
        past = torch.full((B,), past_len, device=DEV, dtype=torch.int64)
        tree_len = torch.full((B,), T, device=DEV, dtype=torch.int64)
        rows = torch.arange(T, device=DEV)
        causal = (rows[None, :] <= rows[:, None])  # a chain stands in for the tree: same cost
        packed = torch.zeros(B, T, (T + 31) // 32, dtype=torch.int64, device=DEV)
        for j in range(T):
            packed[:, :, j // 32] |= causal[:, j].long()[None] << (j % 32)
        packed = packed.to(torch.int32)
        out.append((name, time_us(lambda: tree_attention(q, k, v, past, tree_len, packed), batch=5, reps=15)))

    B, W, L, layers, H, D, cap = 64, 8, 5, 2, 8, 128, 340
    beams = torch.randint(0, 3, (B, W, L), device=DEV, dtype=torch.int64)
    _, _, _, unpacker, _ = build_tree(beams)
    argmax = torch.randint(0, 3, (B, W * L), device=DEV, dtype=torch.int64)
    past = torch.randint(0, 300, (B,), device=DEV)
    kc = torch.randn(layers, B, H, cap, D, device=DEV, dtype=torch.float16)
    vc = torch.randn_like(kc)
    out.append(("accept_commit", time_us(lambda: accept_commit(beams, unpacker.long(), argmax, past, kc, vc))))
    for name, us in out:
        print(f"{name} {us:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
