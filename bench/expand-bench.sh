#!/usr/bin/env bash
# The issue-6 measurements on the expanded (TinyLlama-shaped) benchmark model, f32 and f16, each run bounded to a
# few minutes: AR and ReDrafter on our engine and llama.cpp's AR, interleaved, plus the forward-cost curve.
#   [DRAFTER=dir] [BENCH_ARGS="..."] bench/expand-bench.sh DIR OUT [W L]
# DIR: the output of bench/expand-model.ts (model-f32.gguf, model-f16.gguf, drafter/); OUT: where the JSON goes;
# DRAFTER: another expanded drafter (default DIR/drafter); BENCH_ARGS: more `redrafter bench` options (e.g.
# --no-adaptive-draft to time the fixed shape).
set -euo pipefail
dir=${1:?expanded model dir}; out=${2:?output dir}; W=${3:-1}; L=${4:-8}; drafter=${DRAFTER:-$dir/drafter}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
{ date -u; lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|L3|Flags' | cut -c1-200; free -g | head -2; uptime; } > "$out/machine.txt"
for type in f32 f16; do
  node --import tsx "$root/lib/cli/main.ts" bench --model "$dir/model-$type.gguf" --drafter "$drafter" --drafter-f16 ${BENCH_ARGS:-} \
    --threads 2 --beam-width "$W" --beam-length "$L" --max-tokens 64 --repeats 3 \
    --prompt "Once upon a time" "Lily and Ben went to the park" --forward-cost 1,2,4,6,8,12,16 --json > "$out/expanded-$type.json"
  uptime >> "$out/machine.txt"
done
