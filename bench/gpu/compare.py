#!/usr/bin/env python3
"""Checks a run's greedy tokens against a reference run (both redrafter-gpu-bench JSON; the reference run with --gaps).

    python3 bench/gpu/compare.py REFERENCE.json CANDIDATE.json [--tolerance 1e-2] [--json OUT.json]

Pass rule (issue 16): for every prompt the tokens are identical, or their first difference falls where the reference's
top-2 logits differ by less than the tolerance (a near tie that float rounding may flip; what follows a flipped
token is not compared). Prompts are matched by their text, so a batch-16 candidate whose requests repeat the ten
prompts is checked request by request. Prints one line per candidate prompt and a closing line
'compare: N identical, N tolerated, N failed'; exits 0 when all pass, 1 when one fails, 2 on unusable input.
"""
import argparse
import json
import sys

TOLERANCE = 1e-2


class InputError(Exception):
    pass


def load(path, role):
    try:
        with open(path) as f:
            run = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{role} {path}: {e}")
    prompts = run.get("prompts") if isinstance(run, dict) else None
    if not isinstance(prompts, list) or not prompts:
        raise InputError(f"{role} {path}: no 'prompts' list")
    for i, p in enumerate(prompts):
        if not isinstance(p, dict) or not isinstance(p.get("prompt"), str) or not isinstance(p.get("tokens"), list):
            raise InputError(f"{role} {path}: prompts[{i}] needs 'prompt' (text) and 'tokens' (ids)")
    return run


def first_difference(a, b):
    for k in range(min(len(a), len(b))):
        if a[k] != b[k]:
            return k
    return None if len(a) == len(b) else min(len(a), len(b))


def compare(reference, candidate, tolerance=TOLERANCE):
    """-> (rows, summary). Each row: prompt index, prompt, verdict ('identical' | 'tolerated' | 'failed'), first
    difference position, reference and candidate token there, the reference's top-2 gap there, and why."""
    refs = {}
    for p in reference["prompts"]:
        refs.setdefault(p["prompt"], p)
    rows = []
    for i, c in enumerate(candidate["prompts"]):
        r = refs.get(c["prompt"])
        row = dict(index=i, prompt=c["prompt"], position=None, reference=None, candidate=None, gap=None, why="")
        if r is None:
            row.update(verdict="failed", why="the reference has no such prompt")
            rows.append(row)
            continue
        k = first_difference(r["tokens"], c["tokens"])
        if k is None:
            row["verdict"] = "identical"
            rows.append(row)
            continue
        gaps = r.get("gaps")
        row["position"] = k
        row["reference"] = r["tokens"][k] if k < len(r["tokens"]) else None
        row["candidate"] = c["tokens"][k] if k < len(c["tokens"]) else None
        if not isinstance(gaps, list):
            row.update(verdict="failed", why="the reference has no gaps (run it with --gaps)")
        elif k >= len(gaps) or not isinstance(gaps[k], (int, float)):
            row.update(verdict="failed", why=f"no reference gap at position {k} (one run is longer)")
        else:
            row["gap"] = float(gaps[k])
            ok = row["gap"] < tolerance
            row.update(verdict="tolerated" if ok else "failed",
                       why=f"top-2 gap {row['gap']:.3g} {'<' if ok else '>='} {tolerance:g}")
        rows.append(row)
    summary = {v: sum(1 for r in rows if r["verdict"] == v) for v in ("identical", "tolerated", "failed")}
    summary["pass"] = summary["failed"] == 0
    summary["gaps"] = [dict(index=r["index"], position=r["position"], gap=r["gap"]) for r in rows
                       if r["position"] is not None]
    return rows, summary


def main(argv):
    p = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n\n")[0])
    p.add_argument("reference")
    p.add_argument("candidate")
    p.add_argument("--tolerance", type=float, default=TOLERANCE)
    p.add_argument("--json", help="write the rows and the summary here")
    a = p.parse_args(argv)
    try:
        ref = load(a.reference, "reference")
        cand = load(a.candidate, "candidate")
    except InputError as e:
        sys.stderr.write(f"compare.py: {e}\n")
        return 2
    rows, summary = compare(ref, cand, a.tolerance)
    for r in rows:
        where = "" if r["position"] is None else (f" first difference at token {r['position']}: reference "
                                                  f"{r['reference']}, candidate {r['candidate']};")
        sys.stdout.write(f"  [{r['index']}] {r['verdict']}:{where} {r['why']}  ({r['prompt'][:40]!r})\n")
    sys.stdout.write(f"compare: {summary['identical']} identical, {summary['tolerated']} tolerated, "
                     f"{summary['failed']} failed\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(reference=a.reference, candidate=a.candidate, tolerance=a.tolerance, rows=rows,
                           summary=summary), f, indent=1)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
