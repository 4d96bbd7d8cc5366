#!/usr/bin/env python3
"""Task score of the bundled default model: exact match on held-out generated questions.

Each question of test.jsonl (written by make_sft_data.py; its arithmetic pairs, unit values, weekday offsets and
phrasings never appear in training) is asked through `exaone run` with greedy decoding, in the item's thinking mode;
the answer (stdout; the reasoning goes to stderr) must equal the expected answer exactly, after trimming whitespace.

usage: evaluate.py --exaone build/exaone -m MODEL --test test.jsonl [--per-category 40] [--json OUT.json]
"""
import argparse
import collections
import json
import os
import random
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exaone", required=True)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--per-category", type=int, default=40, help="questions per category (a fixed sample)")
    ap.add_argument("--json", help="write the per-question results here")
    ap.add_argument("--threads", default="2")
    a = ap.parse_args()

    items = [json.loads(l) for l in open(a.test, encoding="utf-8") if l.strip()]
    by_cat = collections.defaultdict(list)
    for it in items:
        by_cat[it["category"]].append(it)
    rng = random.Random(0)
    chosen = []
    for cat in sorted(by_cat):
        group = by_cat[cat]
        chosen += group if len(group) <= a.per_category else rng.sample(group, a.per_category)

    results, score = [], collections.defaultdict(lambda: [0, 0])
    for it in chosen:
        think = bool(it.get("enable_thinking", False))
        cmd = [a.exaone, "run", "-m", a.model, "-p", it["prompt"], "--temp", "0", "-n", "200"]
        if think:
            cmd.append("--think")
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "EXAONE_THREADS": a.threads})
        if r.returncode != 0:
            print(f"evaluate: exaone run failed ({r.returncode}): {r.stderr.strip()[-300:]}", file=sys.stderr)
            sys.exit(2)
        got = r.stdout.strip()
        ok = got in [s.strip() for s in it.get("answers", [it["answer"]])]
        key = (it["category"], it["lang"])
        score[key][0] += ok
        score[key][1] += 1
        results.append({**it, "got": got, "ok": ok})

    total_ok = sum(v[0] for v in score.values())
    total = sum(v[1] for v in score.values())
    print(f"{'category':18s} {'lang':4s} {'exact':>7s}")
    for (cat, lang), (ok, n) in sorted(score.items()):
        print(f"{cat:18s} {lang:4s} {ok:3d}/{n:<3d}")
    print(f"{'all':18s} {'':4s} {total_ok:3d}/{total:<3d} = {total_ok / max(total, 1):.3f}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"exact_match": total_ok / max(total, 1), "correct": total_ok, "questions": total,
                       "by_category": {f"{c}/{l}": v for (c, l), v in sorted(score.items())},
                       "results": results}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
