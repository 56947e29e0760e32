#!/usr/bin/env python3
"""Writes the GPU benchmark models where there is no Node: the function-preserving expansion of stories260K (and its
drafter) to a large LLaMA shape, as bench/expand-model.ts does, byte for byte (test/gpu-bench-tools.test.ts checks
that), with numpy only.

    python3 bench/gpu/expand_model.py --out DIR [--shape tinyllama|llama3-8b | --dim D --ffn F --layers L --heads H
        --kv-heads K] [--source stories260K.bin --tokenizer tok512.bin --drafter models/stories260K-drafter|none]
        [--types f16[,f32]]

Writes DIR/model-<type>.gguf (GGUF v3 `llama`, the SentencePiece vocabulary embedded as native/cpu/model/convert.cpp's
addLlamaMetadata writes it; matrices in <type>, norm vectors f32, alignment 32) and DIR/drafter/{config.json,
model.safetensors} (Apple's layout, f32), then prints one JSON line: the paths, the parameter count and the bytes
of weights one decoding step reads.

The mapping is bench/expand-plan.ts's (its header comment says why it preserves the function); both head sizes of
the benchmark work with it: TinyLlama's 64 (8x stories260K's 8) and Llama-3-8B's 128 (16x). Only the rows that
carry source values are written; every other byte of a tensor is zero, left as a hole in a sparse file, so the
Llama-3-8B shape (about 14 GB) is written in seconds with a few MB of memory and disk (the file reads as zeros).
"""
import argparse
import json
import math
import os
import struct
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # the caller (run.sh, the test) says what is missing
    sys.stderr.write("expand_model.py: numpy is required (python3 -m pip install numpy)\n")
    sys.exit(3)

SHAPES = {
    # TinyLlama-1.1B: head size 64, 4 KV heads
    "tinyllama": dict(dim=2048, hiddenDim=5632, nLayers=22, nHeads=32, nKvHeads=4),
    # Llama-3-8B: head size 128, 8 KV heads
    "llama3-8b": dict(dim=4096, hiddenDim=14336, nLayers=32, nHeads=32, nKvHeads=8),
}

ALIGNMENT = 32  # general.alignment, as the project's GgufWriter writes by default
FILE_TYPE = {"f32": 0, "f16": 1}  # general.file_type (llama_ftype)
GGML_TYPE = {"f32": 0, "f16": 1}


class InputError(Exception):
    """Bad input: one line naming the file or field."""


# ---------------------------------------------------------------------------------------------------------------
# source model: llama2.c checkpoint (native/cpu/model/llama2c_model.cpp describes the layouts)
# ---------------------------------------------------------------------------------------------------------------
def read_llama2c(path):
    """-> (config dict like benchModel.readModelTensors' config, {GGUF name: float32 array [rows, cols]})"""
    data = open(path, "rb").read()
    if data[:4] == b"GGUF":
        raise InputError(f"{path}: is a GGUF file; the source must be a llama2.c checkpoint (.bin)")
    if len(data) < 28:
        raise InputError(f"{path}: too short for a llama2.c checkpoint ({len(data)} bytes)")
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic == 0x616B3432:
        version = struct.unpack_from("<i", data, 4)[0]
        if version not in (1, 2):
            raise InputError(f"{path}: llama2.c checkpoint version {version} is not supported (supported: 0, 1, 2)")
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", data, 8)
        shared = data[36]
        tied = shared == 1
        group = struct.unpack_from("<i", data, 37)[0] if version == 2 else 0
        pos = 256
    else:
        version = 0
        dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", data, 0)
        tied = vocab > 0
        vocab = abs(vocab)
        pos = 28
    for name, v in (("dim", dim), ("hidden_dim", hidden), ("n_layers", layers), ("n_heads", heads),
                    ("n_kv_heads", kv_heads), ("vocab_size", vocab), ("seq_len", seq)):
        if v <= 0:
            raise InputError(f"{path}: header field {name} is {v} (must be positive)")
    if dim % heads or heads % kv_heads:
        raise InputError(f"{path}: dim {dim} / n_heads {heads} / n_kv_heads {kv_heads} do not divide")
    hd = dim // heads
    kv = kv_heads * hd
    f32 = np.dtype("<f4")

    def take_f32(n, what):
        nonlocal pos
        if pos + 4 * n > len(data):
            raise InputError(f"{path}: ends inside {what} (the header implies more bytes than the file has)")
        a = np.frombuffer(data, f32, n, pos)
        pos += 4 * n
        return a

    def take_q8(n, what):
        nonlocal pos
        if pos + n + 4 * (n // group) > len(data):
            raise InputError(f"{path}: ends inside {what}")
        q = np.frombuffer(data, np.int8, n, pos).astype(np.float32)
        pos += n
        s = np.frombuffer(data, f32, n // group, pos)
        pos += 4 * (n // group)
        return q * np.repeat(s, group)  # float(q) * scale, as dequantizeRow

    t = {}
    shapes = [("token_embd.weight", None, vocab, dim)]
    per_layer = [("attn_q.weight", dim, dim), ("attn_k.weight", kv, dim), ("attn_v.weight", kv, dim),
                 ("attn_output.weight", dim, dim), ("ffn_gate.weight", hidden, dim), ("ffn_down.weight", dim, hidden),
                 ("ffn_up.weight", hidden, dim)]
    if version == 0:
        t["token_embd.weight"] = take_f32(vocab * dim, "token_embedding").reshape(vocab, dim)
        stacked = [("attn_norm.weight", 1, dim)] + per_layer[:4] + [("ffn_norm.weight", 1, dim)] + per_layer[4:]
        for name, rows, cols in stacked:
            for l in range(layers):
                t[f"blk.{l}.{name}"] = take_f32(rows * cols, name).reshape(rows, cols)
        t["output_norm.weight"] = take_f32(dim, "rms_final").reshape(1, dim)
        take_f32(seq * hd, "freq_cis")
        if not tied:
            t["output.weight"] = take_f32(vocab * dim, "wcls").reshape(vocab, dim)
        expected = 28 + 4 * (vocab * dim * (1 if tied else 2) + layers * (2 * dim + 2 * dim * dim + 2 * kv * dim
                                                                           + 3 * hidden * dim) + dim + seq * hd)
    else:
        if version == 2 and (group <= 0 or dim % group):
            raise InputError(f"{path}: group_size {group} must be positive and divide dim {dim}")
        for l in range(layers):
            t[f"blk.{l}.attn_norm.weight"] = take_f32(dim, "rms_att").reshape(1, dim)
        for l in range(layers):
            t[f"blk.{l}.ffn_norm.weight"] = take_f32(dim, "rms_ffn").reshape(1, dim)
        t["output_norm.weight"] = take_f32(dim, "rms_final").reshape(1, dim)
        take = take_f32 if version == 1 else take_q8
        t["token_embd.weight"] = take(vocab * dim, "token_embedding").reshape(vocab, dim)
        for name, rows, cols in per_layer:
            for l in range(layers):
                t[f"blk.{l}.{name}"] = take(rows * cols, name).reshape(rows, cols)
        if not tied:
            t["output.weight"] = take(vocab * dim, "wcls").reshape(vocab, dim)
        expected = pos
    if len(data) != expected:
        raise InputError(f"{path}: the file has {len(data)} bytes but its header implies {expected}")
    config = dict(dim=dim, hiddenDim=hidden, nLayers=layers, nHeads=heads, nKvHeads=kv_heads, vocabSize=vocab,
                  contextLength=seq, normEps=float(np.float32(1e-5)), ropeTheta=10000.0, tiedClassifier=tied)
    return config, t


# ---------------------------------------------------------------------------------------------------------------
# tokenizer: llama2.c tokenizer.bin normalised as native/cpu/tokenizer/tokenizer_load.cpp (Tokenizer::fromLlama2c)
# ---------------------------------------------------------------------------------------------------------------
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_BYTE = 1, 2, 3, 6


def is_byte_token(text):
    return (len(text) == 6 and text[:3] == b"<0x" and text[5:6] == b">"
            and all(c in b"0123456789abcdefABCDEF" for c in text[3:5]))


def read_tokenizer(path, vocab_size):
    """-> (texts [bytes], scores [float], types [int]) in GGUF form"""
    data = open(path, "rb").read()
    if data[:4] == b"GGUF":
        raise InputError(f"{path}: is a GGUF file, not a llama2.c tokenizer.bin")
    if len(data) < 4:
        raise InputError(f"{path}: too short for a tokenizer.bin")
    max_len = struct.unpack_from("<i", data, 0)[0]
    if not 0 < max_len <= 1 << 16:
        raise InputError(f"{path}: max_token_length is {max_len} (must be in 1..65536)")
    pos = 4
    texts, scores = [], []
    while pos < len(data):
        if pos + 8 > len(data):
            raise InputError(f"{path}: ends inside token {len(texts)}")
        score, length = struct.unpack_from("<fi", data, pos)
        pos += 8
        if not math.isfinite(score):
            raise InputError(f"{path}: token {len(texts)} has a non-finite score")
        if not 0 <= length <= max_len or pos + length > len(data):
            raise InputError(f"{path}: token {len(texts)} has length {length}")
        texts.append(data[pos:pos + length])
        scores.append(score)
        pos += length
    if len(texts) != vocab_size:
        raise InputError(f"{path}: the tokenizer has {len(texts)} tokens but the model has a vocabulary of {vocab_size}")
    types = []
    for i, text in enumerate(texts):
        if i == 0:
            text, ty = b"<unk>", TOKEN_UNKNOWN
        elif i == 1:
            text, ty = b"<s>", TOKEN_CONTROL
        elif i == 2:
            text, ty = b"</s>", TOKEN_CONTROL
        elif not text:
            ty = TOKEN_CONTROL
        elif is_byte_token(text):
            ty = TOKEN_BYTE
        else:
            ty = TOKEN_NORMAL
        text = text.replace(b" ", "\u2581".encode())
        if not text:
            text = f"[EMPTY_{i}]".encode()  # llama.cpp's name for an empty piece
        texts[i] = text
        types.append(ty)
    seen = {}
    for i, text in enumerate(texts):
        if text in seen:
            raise InputError(f"{path}: tokens {seen[text]} and {i} have the same text, which GGUF does not allow")
        seen[text] = i
    return texts, scores, types


# ---------------------------------------------------------------------------------------------------------------
# the expansion plan (bench/expand-plan.ts: planExpansion)
# ---------------------------------------------------------------------------------------------------------------
def plan_expansion(s, t):
    for k in ("dim", "hiddenDim", "nLayers", "nHeads", "nKvHeads"):
        if not isinstance(t[k], int) or t[k] <= 0:
            raise InputError(f"{k} must be a positive integer (got {t[k]})")

    def need(ok, field, msg):
        if not ok:
            raise InputError(f"{field} {msg}")

    need(t["dim"] >= s["dim"], "dim", f"must be at least the source's {s['dim']}")
    need(t["hiddenDim"] >= s["hiddenDim"], "hiddenDim", f"must be at least the source's {s['hiddenDim']}")
    need(t["nLayers"] >= s["nLayers"], "nLayers", f"must be at least the source's {s['nLayers']}")
    need(t["dim"] % t["nHeads"] == 0, "nHeads", f"must divide dim {t['dim']}")
    need(t["nHeads"] % t["nKvHeads"] == 0, "nKvHeads", f"must divide nHeads {t['nHeads']}")
    need(t["nKvHeads"] >= s["nKvHeads"], "nKvHeads", f"must be at least the source's {s['nKvHeads']}")
    sg = s["nHeads"] // s["nKvHeads"]
    tg = t["nHeads"] // t["nKvHeads"]
    need(tg >= sg, "nHeads", f"/ nKvHeads must be at least the source's group size {sg}")
    hdo = s["dim"] // s["nHeads"]
    hd = t["dim"] // t["nHeads"]
    need(hd % hdo == 0, "nHeads", f"must give a head size ({hd}) that is a multiple of the source's {hdo}")
    return dict(
        source=s, target=t, headRatio=hd // hdo, sourceHeadDim=hdo, targetHeadDim=hd,
        queryScale=math.sqrt(hd / hdo), normScale=math.sqrt(s["dim"] / t["dim"]),
        normEps=(s["normEps"] * s["dim"]) / t["dim"],
        layerOf=[(l * t["nLayers"]) // s["nLayers"] for l in range(s["nLayers"])],
        queryHeadOf=[(h // sg) * tg + h % sg for h in range(s["nHeads"])],
    )


def head_element(plan, e):
    e = np.asarray(e)
    return 2 * plan["headRatio"] * (e >> 1) + (e & 1)


def parameter_count(t, vocab, untied):
    hd = t["dim"] // t["nHeads"]
    per_layer = 2 * t["dim"] + 2 * t["dim"] ** 2 + 2 * t["dim"] * t["nKvHeads"] * hd + 3 * t["dim"] * t["hiddenDim"]
    return vocab * t["dim"] * (2 if untied else 1) + t["dim"] + t["nLayers"] * per_layer


class Tensor:
    """One target tensor [rows, cols]: zero except rows `row_map` (target rows of the source rows), whose values are
    `values` ([len(row_map), cols] float32, already scattered along the columns and scaled)."""

    def __init__(self, name, rows, cols, row_map=None, values=None):
        self.name, self.rows, self.cols = name, rows, cols
        self.row_map, self.values = row_map, values


def scattered(src, rows, cols, row_map, col_map, scale=1.0):
    """bench/expand-plan.ts scatter(): out[row_map[i], col_map[j]] = scale * src[i, j] (the product in float64,
    stored as float32, exactly as the TypeScript Float32Array store rounds it)."""
    src = np.asarray(src, dtype=np.float32)
    vals = np.zeros((src.shape[0], cols), dtype=np.float32)
    prod = src.astype(np.float64) * scale if scale != 1.0 else src
    vals[:, np.asarray(col_map, dtype=np.int64)] = prod.astype(np.float32)
    return np.asarray(row_map, dtype=np.int64), vals


def expanded_tensors(plan, tensors):
    """The target tensors in GGUF order (bench/expand-plan.ts expandedTensors), each built when iterated."""
    s, t = plan["source"], plan["target"]
    hd, hdo = plan["targetHeadDim"], plan["sourceHeadDim"]
    kv_dim = t["nKvHeads"] * hd
    D, F = t["dim"], t["hiddenDim"]

    def get(name):
        if name not in tensors:
            raise InputError(f"source model has no tensor {name}")
        return tensors[name]

    def ident(n):
        return np.arange(n)

    q_index = np.array([plan["queryHeadOf"][i // hdo] * hd + int(head_element(plan, i % hdo))
                        for i in range(s["nHeads"] * hdo)])
    kv_index = np.array([(i // hdo) * hd + int(head_element(plan, i % hdo)) for i in range(s["nKvHeads"] * hdo)])

    def norm(name):
        x = get(name).reshape(-1)
        vals = np.zeros((1, D), dtype=np.float32)
        vals[0, :s["dim"]] = (x.astype(np.float64) * plan["normScale"]).astype(np.float32)
        return np.array([0]), vals

    def matrix(name, rows, cols, row_map, col_map, scale=1.0):
        x = get(name)
        return scattered(x, rows, cols, row_map[:x.shape[0]], col_map[:x.shape[1]], scale)

    yield Tensor("token_embd.weight", s["vocabSize"], D,
                 *matrix("token_embd.weight", s["vocabSize"], D, ident(s["vocabSize"]), ident(s["dim"])))
    yield Tensor("output_norm.weight", 1, D, *norm("output_norm.weight"))
    if not s["tiedClassifier"]:
        yield Tensor("output.weight", s["vocabSize"], D,
                     *matrix("output.weight", s["vocabSize"], D, ident(s["vocabSize"]), ident(s["dim"])))
    source_layer = {tl: sl for sl, tl in enumerate(plan["layerOf"])}
    for l in range(t["nLayers"]):
        sl = source_layer.get(l)
        p, sp = f"blk.{l}.", f"blk.{sl}."
        specs = [
            ("attn_norm.weight", 1, D, lambda: norm(sp + "attn_norm.weight")),
            ("attn_q.weight", D, D, lambda: matrix(sp + "attn_q.weight", D, D, q_index, ident(s["dim"]),
                                                   plan["queryScale"])),
            ("attn_k.weight", kv_dim, D, lambda: matrix(sp + "attn_k.weight", kv_dim, D, kv_index, ident(s["dim"]))),
            ("attn_v.weight", kv_dim, D, lambda: matrix(sp + "attn_v.weight", kv_dim, D, kv_index, ident(s["dim"]))),
            ("attn_output.weight", D, D, lambda: matrix(sp + "attn_output.weight", D, D, ident(s["dim"]), q_index)),
            ("ffn_norm.weight", 1, D, lambda: norm(sp + "ffn_norm.weight")),
            ("ffn_gate.weight", F, D, lambda: matrix(sp + "ffn_gate.weight", F, D, ident(s["hiddenDim"]),
                                                     ident(s["dim"]))),
            ("ffn_down.weight", D, F, lambda: matrix(sp + "ffn_down.weight", D, F, ident(s["dim"]),
                                                     ident(s["hiddenDim"]))),
            ("ffn_up.weight", F, D, lambda: matrix(sp + "ffn_up.weight", F, D, ident(s["hiddenDim"]),
                                                   ident(s["dim"]))),
        ]
        for name, rows, cols, produce in specs:
            if sl is None:  # a zero layer: the identity on the residual stream
                yield Tensor(p + name, rows, cols)
            else:
                yield Tensor(p + name, rows, cols, *produce())


# ---------------------------------------------------------------------------------------------------------------
# GGUF v3 writer (native/cpu/model/gguf_writer.cpp), metadata as convert.cpp's addLlamaMetadata
# ---------------------------------------------------------------------------------------------------------------
GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9


class Meta:
    def __init__(self):
        self.parts, self.count = [], 0

    @staticmethod
    def string(b):
        b = b.encode() if isinstance(b, str) else b
        return struct.pack("<Q", len(b)) + b

    def key(self, key, ty, payload):
        self.parts.append(self.string(key) + struct.pack("<I", ty) + payload)
        self.count += 1

    def u32(self, k, v):
        self.key(k, GGUF_U32, struct.pack("<I", v))

    def f32(self, k, v):
        self.key(k, GGUF_F32, struct.pack("<f", v))

    def bool(self, k, v):
        self.key(k, GGUF_BOOL, struct.pack("<B", 1 if v else 0))

    def str(self, k, v):
        self.key(k, GGUF_STRING, self.string(v))

    def array(self, k, elem_type, items):
        body = struct.pack("<IQ", elem_type, len(items))
        if elem_type == GGUF_STRING:
            body += b"".join(self.string(x) for x in items)
        elif elem_type == GGUF_F32:
            body += np.asarray(items, dtype="<f4").tobytes()
        else:
            body += np.asarray(items, dtype="<i4").tobytes()
        self.key(k, GGUF_ARRAY, body)


def llama_metadata(cfg, vocab, name, file_type):
    texts, scores, types = vocab
    m = Meta()
    m.str("general.architecture", "llama")
    m.str("general.name", name or "llama")
    m.u32("general.file_type", file_type)
    m.u32("general.quantization_version", 2)
    m.u32("general.alignment", ALIGNMENT)
    m.u32("llama.vocab_size", cfg["vocabSize"])
    m.u32("llama.context_length", cfg["contextLength"])
    m.u32("llama.embedding_length", cfg["dim"])
    m.u32("llama.feed_forward_length", cfg["hiddenDim"])
    m.u32("llama.block_count", cfg["nLayers"])
    m.u32("llama.attention.head_count", cfg["nHeads"])
    m.u32("llama.attention.head_count_kv", cfg["nKvHeads"])
    m.u32("llama.rope.dimension_count", cfg["dim"] // cfg["nHeads"])
    m.f32("llama.rope.freq_base", cfg["ropeTheta"])
    m.f32("llama.attention.layer_norm_rms_epsilon", cfg["normEps"])
    m.str("tokenizer.ggml.model", "llama")
    m.array("tokenizer.ggml.tokens", GGUF_STRING, texts)
    m.array("tokenizer.ggml.scores", GGUF_F32, scores)
    m.array("tokenizer.ggml.token_type", GGUF_I32, types)
    m.u32("tokenizer.ggml.bos_token_id", 1)
    m.u32("tokenizer.ggml.eos_token_id", 2)
    m.u32("tokenizer.ggml.unknown_token_id", 0)
    m.bool("tokenizer.ggml.add_bos_token", True)
    m.bool("tokenizer.ggml.add_eos_token", False)
    m.bool("tokenizer.ggml.add_space_prefix", True)
    return m


def align(n):
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def write_gguf(path, meta, tensors, dtype, log):
    """Streams `tensors` (an iterable of Tensor, built one at a time) into a GGUF file at `path`, through a
    temporary file renamed at the end. Rows that are all zero are not written: they stay holes of the file."""
    tensors = list(tensors) if not isinstance(tensors, list) else tensors
    infos, offset = [], 0
    for t in tensors:
        vector = t.rows == 1
        ty = "f32" if vector or dtype == "f32" else "f16"  # vectors (norms) stay f32, as llama.cpp expects
        ne = [t.cols] if vector else [t.cols, t.rows]
        nbytes = t.rows * t.cols * (4 if ty == "f32" else 2)
        infos.append((t, ty, ne, offset, nbytes))
        offset += align(nbytes)
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), meta.count) + b"".join(meta.parts)
    for t, ty, ne, off, _ in infos:
        header += Meta.string(t.name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        header += struct.pack("<IQ", GGML_TYPE[ty], off)
    data_start = align(len(header))
    total = data_start + offset
    out_dir = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for k, (t, ty, ne, off, nbytes) in enumerate(infos):
                if t.values is not None:
                    vals = t.values.astype("<f4" if ty == "f32" else "<f2")
                    row_bytes = t.cols * vals.dtype.itemsize
                    rows = t.row_map
                    order = np.argsort(rows, kind="stable")
                    i = 0
                    while i < len(order):  # write runs of consecutive target rows in one go
                        j = i + 1
                        while j < len(order) and rows[order[j]] == rows[order[j - 1]] + 1:
                            j += 1
                        f.seek(data_start + off + int(rows[order[i]]) * row_bytes)
                        f.write(np.ascontiguousarray(vals[order[i:j]]).tobytes())
                        i = j
                if log and ((k + 1) % 9 == 0 or k + 1 == len(infos)):
                    log(f"{path}: {k + 1}/{len(infos)} tensors")
            f.truncate(total)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plainly created file (mkstemp makes it 0600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return total


# ---------------------------------------------------------------------------------------------------------------
# drafter (Apple's layout: config.json + model.safetensors), bench/expand-plan.ts expandDrafterTensor
# ---------------------------------------------------------------------------------------------------------------
ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": None}


def read_safetensors(path):
    """-> [(name, shape, float32 array)] in the header's order"""
    data = open(path, "rb").read()
    if len(data) < 8:
        raise InputError(f"{path}: too short for a safetensors file")
    n = struct.unpack_from("<Q", data, 0)[0]
    if 8 + n > len(data):
        raise InputError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except ValueError as e:
        raise InputError(f"{path}: the header is not JSON ({e})")
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in ST_DTYPES:
            raise InputError(f"{path}: tensor {name} has dtype {dt} (supported: F32, F16, BF16)")
        raw = data[8 + n + a:8 + n + b]
        count = int(np.prod(shape)) if shape else 1
        if dt == "BF16":
            arr = (np.frombuffer(raw, "<u2", count).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, ST_DTYPES[dt], count).astype(np.float32)
        out.append((name, list(shape), arr.reshape(shape)))
    return out


def expanded_drafter_config(cfg, plan):
    d, D = plan["source"]["dim"], plan["target"]["dim"]
    if cfg.get("hidden_size") != d:
        raise InputError(f"drafter hidden_size {cfg.get('hidden_size')} does not match the model's hidden size {d}")
    no_proj = cfg["exit_dim"] == 2 * d
    if not no_proj and (cfg["exit_dim"] * D) % d:
        raise InputError(f"drafter exit_dim {cfg['exit_dim']} does not scale to an integer for hidden size {D}")
    out = dict(cfg)  # same key order, as {...source, hidden_size, exit_dim}
    out["hidden_size"] = D
    out["exit_dim"] = 2 * D if no_proj else cfg["exit_dim"] * D // d
    return out


def expand_drafter_tensor(name, shape, data, cfg, plan):
    d, D = plan["source"]["dim"], plan["target"]["dim"]
    E = expanded_drafter_config(cfg, plan)["exit_dim"]
    no_proj = cfg["exit_dim"] == 2 * d

    def concat_index(n):  # [h, s] of 2d -> [h, s] of 2D
        j = np.arange(n)
        return np.where(j < d, j, D + (j - d))

    exit_index = concat_index if no_proj else np.arange

    def vec(n, cmap):
        out = np.zeros(n, dtype=np.float32)
        out[cmap(shape[0])] = data
        return out

    def mat(rows, cols, rmap, cmap):
        out = np.zeros((rows, cols), dtype=np.float32)
        out[np.ix_(rmap(shape[0]), cmap(shape[1]))] = data
        return out

    if name == "input_proj.weight":
        return [E, 2 * D], mat(E, 2 * D, np.arange, concat_index)
    if name == "input_proj.bias":
        return [E], vec(E, np.arange)
    if name in ("rnn_u.weight", "rnn_w.weight"):
        return [D, D], mat(D, D, np.arange, np.arange)
    if name == "rnn_u.bias":
        return [D], vec(D, np.arange)
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "lm_head" and parts[1].isdigit():
        rest = ".".join(parts[2:])
        if rest == "linear.weight":
            return [E, E], mat(E, E, exit_index, exit_index)
        if rest == "linear.bias":
            return [E], vec(E, exit_index)
        if rest == "weight":
            return [shape[0], E], mat(shape[0], E, np.arange, exit_index)
    raise InputError(f"drafter tensor {name} is not part of Apple's Drafter layout")


def write_safetensors(path, tensors, metadata):
    """lib/safetensors.ts SafetensorsWriter's bytes: compact JSON header (metadata first), padded with spaces so the
    data starts 8-aligned, then the tensors in order."""
    header = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, shape, arr in tensors:
        n = arr.size * 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    js += b" " * ((8 - (8 + len(js)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js)
        for _, _, arr in tensors:
            f.write(np.ascontiguousarray(arr, dtype="<f4").tobytes())
    os.replace(tmp, path)


def write_expanded_drafter(src_dir, out_dir, plan):
    cfg_path = os.path.join(src_dir, "config.json")
    if not os.path.exists(cfg_path):
        raise InputError(f"--drafter: {src_dir} has no config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    new_cfg = expanded_drafter_config(cfg, plan)
    expanded = []
    for name, shape, arr in read_safetensors(os.path.join(src_dir, "model.safetensors")):
        new_shape, new = expand_drafter_tensor(name, shape, arr, cfg, plan)
        expanded.append((name, new_shape, new))
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), expanded, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:  # JSON.stringify(cfg, null, 2) + '\n'
        f.write(json.dumps(new_cfg, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------------------------
def expand(source, tokenizer, drafter, out, target, types, log=None):
    cfg, tensors = read_llama2c(source)
    plan = plan_expansion(cfg, target)
    vocab = read_tokenizer(tokenizer, cfg["vocabSize"])
    os.makedirs(out, exist_ok=True)
    t = target
    gguf_cfg = dict(t, vocabSize=cfg["vocabSize"], contextLength=cfg["contextLength"], normEps=plan["normEps"],
                    ropeTheta=cfg["ropeTheta"])
    name = f"stories260K-expanded-{t['dim']}x{t['nLayers']}"
    models, step_bytes = {}, {}
    for ty in types:
        path = os.path.join(out, f"model-{ty}.gguf")
        meta = llama_metadata(gguf_cfg, vocab, name, FILE_TYPE[ty])
        tl = list(expanded_tensors(plan, tensors))
        write_gguf(path, meta, tl, ty, log)
        models[ty] = path
        # bytes one decoding step reads: every matrix once (the embedding as the tied classifier), norms in f32
        step_bytes[ty] = sum(x.rows * x.cols * (4 if x.rows == 1 or ty == "f32" else 2) for x in tl)
    drafter_out = None
    if drafter:
        drafter_out = os.path.join(out, "drafter")
        write_expanded_drafter(drafter, drafter_out, plan)
    return dict(models=models, drafter=drafter_out,
                parameters=parameter_count(t, cfg["vocabSize"], not cfg["tiedClassifier"]),
                weightBytes=step_bytes, headDim=plan["targetHeadDim"], target=t)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    models_dir = os.environ.get("REDRAFTER_MODELS") or next(
        (d for d in (os.path.join(repo, ".dev", "models"), os.path.join(repo, "..", "shared", "models"))
         if os.path.exists(os.path.join(d, "stories260K.bin"))), os.path.join(repo, ".dev", "models"))
    p = argparse.ArgumentParser(prog="expand_model.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--shape", choices=sorted(SHAPES), help="a named target shape (else --dim ... --kv-heads)")
    p.add_argument("--dim", type=int)
    p.add_argument("--ffn", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--source", default=os.path.join(models_dir, "stories260K.bin"))
    p.add_argument("--tokenizer", default=os.path.join(models_dir, "tok512.bin"))
    p.add_argument("--drafter", default=os.path.join(repo, "models", "stories260K-drafter"),
                   help='source drafter directory (Apple layout); "none" to skip')
    p.add_argument("--types", default="f16", help="comma-separated GGUF matrix types: f16, f32")
    a = p.parse_args(argv)
    if a.shape:
        target = dict(SHAPES[a.shape])
        for key, field in (("dim", "dim"), ("ffn", "hiddenDim"), ("layers", "nLayers"), ("heads", "nHeads"),
                           ("kv_heads", "nKvHeads")):
            if getattr(a, key) is not None:
                target[field] = getattr(a, key)
    else:
        missing = [k for k in ("dim", "ffn", "layers", "heads", "kv_heads") if getattr(a, k) is None]
        if missing:
            p.error("give --shape or all of --dim --ffn --layers --heads --kv-heads (missing: "
                    + ", ".join("--" + m.replace("_", "-") for m in missing) + ")")
        target = dict(dim=a.dim, hiddenDim=a.ffn, nLayers=a.layers, nHeads=a.heads, nKvHeads=a.kv_heads)
    types = [x.strip() for x in a.types.split(",") if x.strip() and x.strip() != "none"]
    for ty in types:
        if ty not in FILE_TYPE:
            p.error(f"--types: unknown type '{ty}' (f16, f32)")
    for flag, path in (("--source", a.source), ("--tokenizer", a.tokenizer)):
        if not os.path.isfile(path):
            p.error(f"{flag}: {path} does not exist (copy the stories260K fixture into .dev/models: docs/gpu.md)")
    drafter = None if a.drafter == "none" else a.drafter
    try:
        result = expand(a.source, a.tokenizer, drafter, a.out, target, types,
                        log=lambda line: sys.stderr.write(line + "\n"))
    except InputError as e:
        sys.stderr.write(f"expand_model.py: {e}\n")
        return 2
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
