#!/usr/bin/env python3
"""The table of the H100 proof (issue 16) for bench/RESULTS.md, from the result folders bench/gpu/run.sh writes.

    python3 bench/gpu/report.py RESULTS_DIR [RESULTS_DIR ...] [--json OUT.json]

A results folder holds (run.sh names them; any may be missing, and its rows then say 'not measured'):
  device.json, bandwidth.json                 the GPU and its measured device-to-device copy rate
  <shape>/model.json                          expand_model.py's output (weightBytes: bytes one step reads)
  <shape>/{ar,redrafter}-b{1,16}.json         redrafter-gpu-bench timing runs (tokensPerSecond is the total over
                                              the batch), <shape>/ar-b1-gaps.json and (1b) cpu-ar-gaps.json the
                                              token references
  <shape>/compare-*.json                      compare.py verdicts
  <shape>/llama-cpp.json                      llama_cpp_peer.sh bench (llama-bench's tokens/s)
with <shape> 1b (TinyLlama-1.1B shape) or 8b (Llama-3-8B shape). Later folders override earlier ones file by file, so
the folders of two steps (or two tries of one step) merge. Prints the markdown; hit/miss is decided against the
issue's targets here, from the numbers in the files.
"""
import argparse
import json
import os
import sys

SHAPES = {"1b": "TinyLlama-1.1B shape (head size 64)", "8b": "Llama-3-8B shape (head size 128)"}


def load_dirs(dirs):
    data = {}
    for d in dirs:
        if not os.path.isdir(d):
            raise SystemExit(f"report.py: {d} is not a folder")
        for root, _, files in os.walk(d):
            for name in files:
                if not name.endswith(".json"):
                    continue
                rel = os.path.relpath(os.path.join(root, name), d)
                try:
                    with open(os.path.join(root, name)) as f:
                        data[rel.replace(os.sep, "/")] = json.load(f)
                except (OSError, ValueError) as e:
                    sys.stderr.write(f"report.py: skipping {os.path.join(root, name)}: {e}\n")
    return data


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def fmt(x, digits=1):
    return "n/a" if x is None else f"{x:,.{digits}f}"


class Report:
    def __init__(self, data):
        self.d = data
        self.targets = []  # (shape, what, measured text, ratio, tokens/step, target, verdict)

    def run(self, shape, name):
        r = self.d.get(f"{shape}/{name}.json")
        return r if isinstance(r, dict) else None

    def tps(self, shape, name):
        r = self.run(shape, name)
        return num(r.get("tokensPerSecond")) if r else None

    def per_step(self, shape, name):
        r = self.run(shape, name)
        return num(r.get("tokensPerStep")) if r else None

    def peer(self, shape):
        r = self.run(shape, "llama-cpp")
        return num(r.get("tokensPerSecond")) if r else None

    def ratio_target(self, shape, what, num_value, den_value, minimum, tps, detail):
        ratio = num_value / den_value if num_value is not None and den_value else None
        verdict = "not measured" if ratio is None else ("**hit**" if ratio >= minimum else "**miss**")
        self.targets.append((shape, what, detail, ratio, tps, f"≥ {minimum:g}x", verdict))

    def token_target(self, shape, what, name):
        c = self.run(shape, name)
        if not c or "summary" not in c:
            self.targets.append((shape, what, "not run", None, None, "identical or gap < 1e-2", "not measured"))
            return
        s = c["summary"]
        gaps = ", ".join(f"#{g['index']}@{g['position']}: {fmt(g['gap'], 4) if g['gap'] is not None else 'none'}"
                         for g in s.get("gaps", [])) or "none"
        detail = f"{s['identical']} identical, {s['tolerated']} tolerated, {s['failed']} failed; first-difference gaps: {gaps}"
        self.targets.append((shape, what, detail, None, None, "identical or gap < 1e-2",
                             "**hit**" if s.get("pass") else "**miss**"))

    def build(self):
        for shape in ("1b", "8b"):
            ar, rd = self.tps(shape, "ar-b1"), self.tps(shape, "redrafter-b1")
            rd_step = self.per_step(shape, "redrafter-b1")
            peer = self.peer(shape)
            self.token_target(shape, "tokens: ReDrafter = AR on the GPU, batch 1", "compare-redrafter-b1")
            if shape == "1b":
                self.token_target(shape, "tokens: GPU AR = CPU engine f16 AR", "compare-gpu-ar-vs-cpu")
                self.ratio_target(shape, "ReDrafter / own GPU AR (batch 1)", rd, ar, 2.5, rd_step,
                                  f"{fmt(rd)} / {fmt(ar)} tok/s")
                self.ratio_target(shape, "ReDrafter / llama.cpp CUDA AR (batch 1)", rd, peer, 2.5, rd_step,
                                  f"{fmt(rd)} / {fmt(peer)} tok/s")
            else:
                self.ratio_target(shape, "ReDrafter / llama.cpp CUDA AR (batch 1)", rd, peer, 2.7, rd_step,
                                  f"{fmt(rd)} / {fmt(peer)} tok/s")
                self.ratio_target(shape, "own GPU AR / llama.cpp CUDA AR (within 10%)", ar, peer, 0.9, 1.0,
                                  f"{fmt(ar)} / {fmt(peer)} tok/s")
                limit, detail = self.bandwidth_limit(shape)
                self.ratio_target(shape, "own GPU AR / bandwidth limit", ar, limit, 0.7, 1.0,
                                  f"{fmt(ar)} / {fmt(limit)} tok/s ({detail})")
            ar16, rd16 = self.tps(shape, "ar-b16"), self.tps(shape, "redrafter-b16")
            b16_what = "batch 16: ReDrafter / own AR (total tok/s)"
            if shape == "8b":
                self.ratio_target(shape, b16_what, rd16, ar16, 1.5, self.per_step(shape, "redrafter-b16"),
                                  f"{fmt(rd16)} / {fmt(ar16)} tok/s")
            else:  # no target for the 1B shape: shown for reference
                ratio = rd16 / ar16 if rd16 is not None and ar16 else None
                self.targets.append((shape, b16_what, f"{fmt(rd16)} / {fmt(ar16)} tok/s", ratio,
                                     self.per_step(shape, "redrafter-b16"), "(no target)",
                                     "not measured" if ratio is None else "—"))

    def bandwidth_limit(self, shape):
        bw = self.d.get("bandwidth.json") or {}
        rate = num(bw.get("bytesPerSecond"))
        model = self.run(shape, "model") or {}
        wb = model.get("weightBytes", {})
        wb = num(wb.get("f16")) if isinstance(wb, dict) else num(wb)
        if rate is None or wb is None:
            return None, "copy rate or weight bytes not measured"
        return rate / wb, f"{wb / 1e9:.2f} GB of weights per token at {rate / 1e12:.2f} TB/s copy rate"

    def markdown(self):
        dev = self.d.get("device.json") or {}
        bw = self.d.get("bandwidth.json") or {}
        lines = []
        head = dev.get("name", "GPU not recorded")
        lines.append(f"### ReDrafter on the GPU (issue 16): {head}")
        lines.append("")
        facts = [f"driver {dev['driver']}" if dev.get("driver") else None,
                 f"measured {dev['date']}" if dev.get("date") else None,
                 f"device-to-device copy {num(bw.get('bytesPerSecond')) / 1e12:.2f} TB/s (bytes read + written)"
                 if num(bw.get("bytesPerSecond")) else None,
                 f"llama.cpp {self.peer_build()}" if self.peer_build() else None]
        facts = [f for f in facts if f]
        st = self.d.get("settings.json") or {}
        runs = (f"{st.get('prompts', '?')} prompts x {st.get('maxTokens', '?')} tokens, ReDrafter beams "
                f"W={st.get('beamWidth', '?')} L={st.get('beamLength', '?')}, {st.get('repeats', '?')} repeats per "
                "timed run" if st else "run settings not recorded")
        lines.append("; ".join(facts + [f"greedy, f16, {runs}"]) + ". The models are stories260K expanded "
                     "(function-preserving) to each shape, its vocabulary (512) and its drafter kept, so the "
                     "acceptance is stories260K's. Commands: `bash bench/gpu/run.sh step1`, then `step2` "
                     "(docs/gpu.md, \"Running the H100 proof\").")
        lines.append("")
        lines.append("| shape | target | measured | ratio | tokens/step | needs | result |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for shape, what, detail, ratio, tps, need, verdict in self.targets:
            lines.append(f"| {shape} | {what} | {detail} | {fmt(ratio, 2) + 'x' if ratio is not None else 'n/a'} | "
                         f"{fmt(tps, 2)} | {need} | {verdict} |")
        lines.append("")
        lines.append("| shape | engine | mode | batch | tokens/s | tokens/step | step ms | prefill ms |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for shape in ("1b", "8b"):
            for name, engine in (("ar-b1", "redrafter (cuda)"), ("redrafter-b1", "redrafter (cuda)"),
                                 ("ar-b16", "redrafter (cuda)"), ("redrafter-b16", "redrafter (cuda)"),
                                 ("cpu-ar-gaps", "redrafter (cpu; reference tokens, may share the CPU with the peer's build)")):
                r = self.run(shape, name)
                if not r:
                    continue
                lines.append(f"| {shape} | {engine} | {r.get('mode', '?')} | {r.get('batch', '?')} | "
                             f"{fmt(num(r.get('tokensPerSecond')))} | {fmt(num(r.get('tokensPerStep')), 2)} | "
                             f"{fmt(num(r.get('stepMs')), 3)} | {fmt(num(r.get('prefillMs')), 2)} |")
            p = self.run(shape, "llama-cpp")
            if p:
                lines.append(f"| {shape} | llama.cpp (CUDA) | ar | 1 | {fmt(num(p.get('tokensPerSecond')))} | 1.00 | "
                             f"{fmt(1000 / p['tokensPerSecond'], 3) if num(p.get('tokensPerSecond')) else 'n/a'} | "
                             "n/a |")
        return "\n".join(lines) + "\n"

    def peer_build(self):
        for shape in ("1b", "8b"):
            p = self.run(shape, "llama-cpp")
            if p and p.get("build"):
                return str(p["build"])
        return None


def main(argv):
    p = argparse.ArgumentParser(prog="report.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--json", help="also write the target rows as JSON here")
    a = p.parse_args(argv)
    r = Report(load_dirs(a.dirs))
    r.build()
    sys.stdout.write(r.markdown())
    if a.json:
        keys = ("shape", "target", "measured", "ratio", "tokensPerStep", "needs", "result")
        with open(a.json, "w") as f:
            json.dump([dict(zip(keys, t)) for t in r.targets], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
