#!/usr/bin/env python3
"""Throughput of the exaone_comply package against the CLI on the same data (a benchmark, not a
test; figures in docs/comply.md, section "Python package and Ray").

    python scripts/comply/bench_python.py --exaone BUILD/exaone [--mb 30] [--threads 2] [--ray]

Needs the package installed (pip install ./python; with --ray also ray[data]). The corpus is the
labelled eval set repeated with a counter appended to every text (so nothing is a duplicate) up
to --mb MB. Measured:
  * cli       `exaone comply scan --action mask --threads T`, wall time of the process;
  * python    pyarrow.json reads the same JSONL, then process_batch(action="mask") on the text
              column in batches of 4 MB (detection, masking, SHA-256, MinHash: the CLI's
              per-document work; not the JSONL writing, dedup decisions and report);
  * ray N     python -m exaone_comply.ray_scan with a local Ray instance of N CPUs (1 and 2),
              from the first Ray Data pass to the digests (Ray's start-up excluded).
MB/s is input bytes per wall second; each figure is the best of --repeat runs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_corpus(path: Path, mb: float):
    docs = [json.loads(l) for l in (ROOT / "tests/fixtures/comply/eval_set.jsonl").read_text(encoding="utf-8").splitlines()]
    size, k = 0, 0
    with path.open("w", encoding="utf-8") as f:
        while size < mb * 1e6:
            d = docs[k % len(docs)]
            line = json.dumps({"id": f"d{k}", "text": d["text"] + f"\n#{k}"}, ensure_ascii=False) + "\n"
            f.write(line)
            size += len(line.encode())
            k += 1
    return size, k


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exaone", required=True)
    ap.add_argument("--mb", type=float, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ray", action="store_true")
    a = ap.parse_args()
    import pyarrow.json as pj

    import exaone_comply as ec

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.jsonl"
        size, n = make_corpus(corpus, a.mb)
        print(f"corpus: {n} documents, {size / 1e6:.1f} MB; threads {a.threads}; CPU: {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}")
        out = tmp / "out"

        def cli():
            subprocess.run([a.exaone, "comply", "scan", "--in", str(corpus), "--out", str(out), "--force",
                            "--action", "mask", "--threads", str(a.threads)], check=True, capture_output=True)

        def python_path():
            table = pj.read_json(corpus)
            texts = table.column("text")
            for batch in texts.chunks:  # pyarrow.json's blocks are of a few MB
                ec.process_batch(batch, action="mask", threads=a.threads)

        rows = [("cli", best(cli, a.repeat)), ("python batch", best(python_path, a.repeat))]
        if a.ray:
            for workers in (1, 2):
                code = ("import sys, json; from exaone_comply.ray_scan import ray_scan; "
                        f"ts=[ray_scan({str(corpus)!r}, {str(tmp / 'ray')!r}, num_workers={workers}, action='mask', "
                        f"force=True)['seconds'] for _ in range({a.repeat})]; print(json.dumps(min(ts)))")
                r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", float(r.stdout.strip().splitlines()[-1])))
        base = rows[0][1]
        print("| path | seconds | MB/s | vs CLI |")
        print("|---|---|---|---|")
        for name, s in rows:
            print(f"| {name} | {s:.2f} | {size / 1e6 / s:.1f} | {base / s:.2f} |")


if __name__ == "__main__":
    main()
