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
MB/s is input bytes per wall second; each figure is the best of --repeat runs. "MB/CPU-s" divides
by the CPU time the run used instead (all its processes and threads: the CLI as a child process,
this process for the Python path, the driver plus Ray's worker processes for Ray), which depends
much less on what else the machine is running.
"""
import argparse
import json
import os
import resource
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


def best(fn, repeat, cpu_of):
    """(wall seconds, CPU seconds) of the fastest run."""
    runs = []
    for _ in range(repeat):
        c0 = cpu_of()
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0, cpu_of() - c0))
    return min(runs)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


RAY_CODE = """
import json, time, psutil
from exaone_comply.ray_scan import ray_scan

def ray_cpu():  # this driver and every Ray worker process
    total = time.process_time()
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::") or "default_worker.py" in cmd:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total

runs = []
for _ in range({repeat}):
    c0 = ray_cpu()
    s = ray_scan({corpus!r}, {out!r}, num_workers={workers}, action="mask", force=True,
                  chunk_mb={chunk_mb})
    runs.append((s["seconds"], ray_cpu() - c0))
print(json.dumps(min(runs)))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exaone", required=True)
    ap.add_argument("--mb", type=float, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--chunk-mb", type=float, default=4, help="ray_scan's range size")
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

        rows = [("cli", *best(cli, a.repeat, children_cpu)),
                ("python batch", *best(python_path, a.repeat, time.process_time))]
        if a.ray:
            for workers in (1, 2):
                code = RAY_CODE.format(repeat=a.repeat, corpus=str(corpus), out=str(tmp / "ray"), workers=workers,
                                       chunk_mb=a.chunk_mb)
                r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
                if r.returncode:
                    sys.exit(f"ray run failed:\n{r.stderr[-3000:]}")
                wall, cpu = json.loads(r.stdout.strip().splitlines()[-1])
                rows.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", wall, cpu))
        mb = size / 1e6
        print(f"load after: {os.getloadavg()[0]:.1f}")
        print("| path | seconds | MB/s | vs CLI | CPU-s | MB/CPU-s | vs CLI |")
        print("|---|---|---|---|---|---|---|")
        for name, wall, cpu in rows:
            print(f"| {name} | {wall:.2f} | {mb / wall:.1f} | {rows[0][1] / wall:.2f} | {cpu:.2f} | {mb / cpu:.1f} | "
                  f"{rows[0][2] / cpu:.2f} |")


if __name__ == "__main__":
    main()
