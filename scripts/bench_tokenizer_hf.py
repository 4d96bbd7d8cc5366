#!/usr/bin/env python3
"""Times HF `tokenizers` (one thread) on the text and tokenizer files bench/tokenizer_bench.cpp uses, in MB/s.

Usage (from the repository root):  python3 scripts/bench_tokenizer_hf.py [--repeat N]
Warm figures: the tokenizer's word cache is filled by a first encode, as in the C++ BM_Encode benchmark;
cold figures use a freshly loaded tokenizer for each timed encode (BM_EncodeCold).
"""
import argparse
import os
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # must be set before tokenizers starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "tokenizers")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with open(os.path.join(FIXTURES, "bench_text.txt"), encoding="utf-8") as f:
        text = f.read()
    mb = len(text.encode("utf-8")) / 1e6
    print(f"tokenizers {tokenizers.__version__}, text {mb:.3f} MB, RAYON_NUM_THREADS=1")
    for name in ["exaone4", "exaone3", "kexaone"]:
        path = os.path.join(FIXTURES, name, "tokenizer.json")
        tok = Tokenizer.from_file(path)
        n_tokens = len(tok.encode(text, add_special_tokens=False).ids)  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            tok.encode(text, add_special_tokens=False)
            best = min(best, time.perf_counter() - t0)
        cold = float("inf")
        for _ in range(max(3, args.repeat // 4)):
            fresh = Tokenizer.from_file(path)
            t0 = time.perf_counter()
            fresh.encode(text, add_special_tokens=False)
            cold = min(cold, time.perf_counter() - t0)
        print(f"{name:8s} encode warm {mb / best:7.2f} MB/s ({best * 1e3:.1f} ms)   "
              f"cold {mb / cold:7.2f} MB/s ({cold * 1e3:.1f} ms)   {n_tokens} tokens")
    tok = Tokenizer.from_file(os.path.join(FIXTURES, "exaone4", "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=False).ids
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        tok.decode(ids, skip_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
    print(f"exaone4  decode      {mb / best:7.2f} MB/s ({best * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
