#!/usr/bin/env python3
"""Training speed of `exaone train` against PyTorch on the same config and the same batches.

PyTorch side: transformers' Exaone4ForCausalLM in float32, torch.optim.AdamW, gradient clipping,
torch.set_num_threads(THREADS). exaone side: `exaone train --bench` (fp32, and bf16 matmuls where the
CPU has AVX512_BF16). Both sample their batches with the trainer's counter-based RNG keyed by
(seed, step), reimplemented here, from one int32 token file, so they see the same windows.

Runs are interleaved (round r runs every system once, in a rotated order) because the machine may be
shared; each system's figure is the median (and the best) over rounds of its median step. Every run is a separate
process, so its peak RSS is its own. The MFU of both divides by the peaks that `exaone train --bench`
probes (FP32 FMA and BF16 dot-product loops on all threads) in the same session.

    python bench/train_vs_pytorch.py --exaone build/exaone [--shape 32m|100m --steps 5 --rounds 3 --threads 2]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

MASK = (1 << 64) - 1

# The PyTorch config: HF Exaone4 shape, 32.5M parameters, all layers global with RoPE; and a
# ~100M one (12 layers of hidden 768, 12/4 heads, vocab 16384 untied: 108M parameters).
SHAPES = {
    "32m": dict(layers=8, hidden=512, heads=8, kv=2, head_dim=64, inter=1536, vocab=8192),
    "100m": dict(layers=12, hidden=768, heads=12, kv=4, head_dim=64, inter=2304, vocab=16384),
}
SHAPE = SHAPES["32m"]  # set from --shape in main() and in the worker


def splitmix64(s):
    s = (s + 0x9E3779B97F4A7C15) & MASK
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return s, z ^ (z >> 31)


def batch_starts(seed, stream, batch, n_starts):
    """train::Trainer::sample's window starts for one micro-batch (src/train/rng.h)."""
    s = (seed * 0xD1342543DE82EF95 + stream) & MASK
    s, _ = splitmix64(s)
    out = []
    for _ in range(batch):
        s, z = splitmix64(s)
        out.append(z % n_starts)
    return out


def flops_per_token(shape, seq):
    """TrainableModel::flops_per_token for an all-global model: 3 x forward."""
    h, L = shape["hidden"], shape["layers"]
    qd, kvd = shape["heads"] * shape["head_dim"], shape["kv"] * shape["head_dim"]
    matmul = h * (2 * qd + 2 * kvd + 3 * shape["inter"]) * L + shape["vocab"] * h
    attn = L * 4.0 * (seq + 1) / 2 * qd
    return 3.0 * (2.0 * matmul + attn)


def pytorch_worker(a):
    import numpy as np
    import resource
    import torch
    from transformers import Exaone4Config, Exaone4ForCausalLM

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    s = SHAPE
    cfg = Exaone4Config(vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["inter"],
                        num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv"],
                        head_dim=s["head_dim"], max_position_embeddings=2048, tie_word_embeddings=False,
                        sliding_window=None, layer_types=["full_attention"] * s["layers"],
                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    model = Exaone4ForCausalLM(cfg).float()
    model.train()
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    data = np.fromfile(a.tokens, dtype=np.int32)
    n_starts = len(data) - a.seq
    times, losses = [], []
    for step in range(a.steps + 1):  # step 0 is the warm-up, as in --bench
        t0 = time.perf_counter()
        starts = batch_starts(a.seed, step, a.batch, n_starts)
        x = torch.from_numpy(np.stack([data[st:st + a.seq] for st in starts]).astype(np.int64))
        y = torch.from_numpy(np.stack([data[st + 1:st + a.seq + 1] for st in starts]).astype(np.int64))
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step > 0:
            times.append(dt)
            losses.append(loss.item())
    tok = a.batch * a.seq
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"tok_s_median": statistics.median(tok / t for t in times), "params": params,
                      "peak_rss_mb": rss / 1e6, "rss_bytes_per_param": rss / params, "last_loss": losses[-1],
                      "torch": torch.__version__}))


def run_exaone(a, matmul):
    s = SHAPE
    shape = ",".join(f"{k}={v}" for k, v in s.items()) + ",window=0,tied=0"
    cmd = [a.exaone, "train", "--shape", shape, "--tokens", a.tokens, "--unscreened", "--bench", "--steps",
           str(a.steps), "--batch", str(a.batch), "--seq", str(a.seq), "-t", str(a.threads), "--matmul", matmul,
           "--seed", str(a.seed), "--lr", str(a.lr)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("bench:")), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"exaone train --bench failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return {k: (float(v) if re.fullmatch(r"[-0-9.e+]+", v) else v) for k, v in re.findall(r"(\w+)=(\S+)", line)}


def run_pytorch(a):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--shape", a.shape, "--tokens", a.tokens,
           "--steps", str(a.steps),
           "--batch", str(a.batch), "--seq", str(a.seq), "--threads", str(a.threads), "--seed", str(a.seed),
           "--lr", str(a.lr)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"PyTorch worker failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exaone", default="build/exaone")
    p.add_argument("--shape", default="32m", choices=sorted(SHAPES), help="model config (default: the issue's 32.5M)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per run (after one warm-up step)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--matmul", default="fp32,bf16", help="exaone matmul modes to run (bf16 skipped without the CPU)")
    p.add_argument("--tokens", help="int32 token file (default: a generated one)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    global SHAPE
    SHAPE = SHAPES[a.shape]
    if a.worker:
        return pytorch_worker(a)

    import numpy as np
    tmp = None
    if not a.tokens:
        # A learnable stream: random tokens, every second one a function of the one before.
        tmp = tempfile.NamedTemporaryFile(suffix=".bin", delete=False)
        rng = np.random.default_rng(0)
        t = rng.integers(0, SHAPE["vocab"], size=1 << 20).astype(np.int32)
        t[1::2] = (t[0::2] * 7 + 3) % SHAPE["vocab"]
        t.tofile(tmp.name)
        a.tokens = tmp.name
    systems = ["pytorch"] + [f"exaone-{m}" for m in a.matmul.split(",") if m]
    results = {s: [] for s in systems}
    peaks = {"fp32": [], "bf16": []}
    for r in range(a.rounds):
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for s in order:
            try:
                res = run_pytorch(a) if s == "pytorch" else run_exaone(a, s.split("-", 1)[1])
            except SystemExit as e:
                if "bf16" in s and "AVX512_BF16" in str(e):
                    print(f"{s}: skipped (CPU without AVX512_BF16)")
                    systems.remove(s)
                    continue
                raise
            results[s].append(res)
            if "peak_fp32_gflops" in res:
                peaks["fp32"].append(res["peak_fp32_gflops"])
                peaks["bf16"].append(res["peak_bf16_gflops"])
            print(f"round {r + 1} {s}: {res['tok_s_median']:.0f} tok/s", flush=True)
    peak32 = statistics.median(peaks["fp32"]) if peaks["fp32"] else float("nan")
    peak16 = statistics.median(peaks["bf16"]) if peaks["bf16"] and max(peaks["bf16"]) > 0 else float("nan")
    fpt = flops_per_token(SHAPE, a.seq)
    base = statistics.median(x["tok_s_median"] for x in results["pytorch"])
    base_best = max(x["tok_s_median"] for x in results["pytorch"])
    print(f"\nconfig {SHAPE}, batch {a.batch} x seq {a.seq}, {a.threads} threads, {a.rounds} rounds x {a.steps} steps")
    print(f"probed peaks: fp32 {peak32:.1f} GFLOP/s, bf16 {peak16:.1f} GFLOP/s; {fpt / 1e6:.1f} MFLOP per token")
    print("median and best over rounds (on a shared machine load only slows a run, so 'best' is the cleaner figure)")
    print(f"{'system':<14} {'tok/s':>8} {'vs torch':>9} {'best':>7} {'vs torch':>9} {'MFU fp32':>9} {'MFU bf16':>9} "
          f"{'RSS MB':>8} {'B/param':>8}")
    for s in systems:
        rs = results[s]
        tok = statistics.median(x["tok_s_median"] for x in rs)
        best = max(x["tok_s_median"] for x in rs)
        rss = statistics.median(x["peak_rss_mb"] for x in rs)
        bpp = statistics.median(x["rss_bytes_per_param"] for x in rs)
        print(f"{s:<14} {tok:8.0f} {tok / base:8.2f}x {best:7.0f} {best / base_best:8.2f}x "
              f"{best * fpt / (peak32 * 1e9):9.1%} {best * fpt / (peak16 * 1e9):9.1%} {rss:8.0f} {bpp:8.1f}")
    if tmp:
        os.unlink(tmp.name)


if __name__ == "__main__":
    main()
