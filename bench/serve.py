#!/usr/bin/env python3
"""Serving benchmark: exaone serve (and llama.cpp's llama-server on the same GGUF file, where it is
installed) under 1, 2, 4, 8 and 16 concurrent streams, plus running streams' inter-token latency
while a long prompt is read. Loopback only; every loop is bounded in count and time.

For each model file it reports, in one run, with both servers up and measured back to back level by level,
in --rounds rounds (medians reported; the host drifts by tens of percent within minutes):
  - exaone bench pp512 tok/s (the batched-decode target: aggregate tok/s at 8 streams >= 0.8 x pp512),
  - per concurrency: aggregate generated tok/s, p50/p99 time to first token, p50/p99 inter-token latency,
  - p99 inter-token latency of 4 running streams, idle and while a 2,000-token prompt is prefilled.

Usage: bench/serve.py [--exaone build/exaone] [--llama-server PATH] [--threads 2] MODEL.gguf [...]
       bench/serve.py --prepare models/exaone4-1.2b-bench [--types q4_0,q8_0]
The random-weight checkpoint comes from scripts/make_bench_model.sh (BENCH=0); it has no tokenizer, so --prepare
writes a serving copy beside it (models/exaone4-1.2b-bench-serve/) with the bundled model's tokenizer padded to the
checkpoint's vocabulary (unreachable filler tokens, so both servers load it) and GGUF files of the given types.
llama-server comes from scripts/peers-env.sh. Standard library only.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time


def percentile(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(q / 100.0 * (len(v) - 1)))))
    return v[k]


class Server:
    """A server process on 127.0.0.1, stopped with SIGTERM."""

    def __init__(self, argv, env, ready_pattern, port=None, timeout=600):
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = port
        deadline = time.time() + timeout
        self.log = []
        while ready_pattern and time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited: " + "".join(self.log[-20:]))
            self.log.append(line)
            m = re.search(ready_pattern, line)
            if m:
                if m.groups():
                    self.port = int(m.group(1))
                break
        else:
            if ready_pattern:
                raise RuntimeError("server did not become ready")
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_health()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.append(line)

    def _wait_health(self):
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("server never answered /health")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stream_completion(port, prompt, max_tokens, timeout=600):
    """One streaming /v1/completions request; returns (ttft, chunk gaps, tokens, total seconds)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "ignore_eos": True, "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]!r}")
    times, tokens = [], None
    for raw in r:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        j = json.loads(data)
        if j.get("usage"):
            tokens = j["usage"]["completion_tokens"]
        for ch in j.get("choices", []):
            if ch.get("text"):
                times.append(time.perf_counter())
    total = time.perf_counter() - t0
    c.close()
    if not times:
        return None
    ttft = times[0] - t0
    gaps = [b - a for a, b in zip(times, times[1:])]
    return ttft, gaps, tokens if tokens is not None else len(times), total, times


def prompt_text(i, words=8):
    rng = random.Random(i)
    vocab = ["system", "river", "서울", "data", "model", "cloud", "노트", "light", "table", "orbit", "말씀", "token"]
    return " ".join(rng.choice(vocab) for _ in range(words))


def load_level(port, concurrency, max_tokens, requests_per_client, time_limit=900):
    results, errors = [], []
    lock = threading.Lock()

    def client(k):
        for r in range(requests_per_client):
            try:
                res = stream_completion(port, prompt_text(k * 100 + r), max_tokens)
                with lock:
                    if res:
                        results.append(res)
            except Exception as e:  # recorded, reported
                with lock:
                    errors.append(str(e))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1, time_limit - (time.perf_counter() - t0)))
    wall = time.perf_counter() - t0
    tokens = sum(r[2] for r in results)
    gaps = [g for r in results for g in r[1]]
    # Steady decode: chunks of all streams while every stream of the first wave was past its first
    # token and none had ended, i.e. batched decode steps alone, without prompt reading or ramp.
    steady = float("nan")
    wave = [r[4] for r in results[:concurrency]] if requests_per_client == 1 else []
    if len(wave) == concurrency and all(len(t) > 2 for t in wave):
        lo, hi = max(t[0] for t in wave), min(t[-1] for t in wave)
        if hi > lo:
            steady = sum(sum(1 for x in t if lo < x <= hi) for t in wave) / (hi - lo)
    return {"concurrency": concurrency, "requests": len(results), "errors": len(errors),
            "agg_tok_s": tokens / wall if wall > 0 else 0.0, "steady_tok_s": steady,
            "ttft_p50": percentile([r[0] for r in results], 50), "ttft_p99": percentile([r[0] for r in results], 99),
            "itl_p50": percentile(gaps, 50), "itl_p99": percentile(gaps, 99),
            "first_error": errors[0] if errors else None}


def prefill_interference(port, long_prompt_words=680, streams=4, max_tokens=96):
    # 680 words of the benchmark's mix are about 2,000 tokens with the bundled tokenizer.
    """p99 chunk gap of `streams` running streams, idle and while one long prompt is read."""
    def run(with_long):
        gaps, lock = [], threading.Lock()
        started = threading.Event()

        def stream(k):
            res = stream_completion(port, prompt_text(9000 + k), max_tokens)
            with lock:
                if res:
                    gaps.extend(res[1][len(res[1]) // 4:])  # past the streams' own start-up

        threads = [threading.Thread(target=stream, args=(k,)) for k in range(streams)]
        for t in threads:
            t.start()
        long_result = None
        if with_long:
            time.sleep(1.0)  # the streams are decoding
            long_result = stream_completion(port, prompt_text(4242, long_prompt_words), 4)
        for t in threads:
            t.join(timeout=900)
        return percentile(gaps, 99), long_result

    idle_p99, _ = run(False)
    busy_p99, long_res = run(True)
    return {"itl_p99_idle": idle_p99, "itl_p99_during_prefill": busy_p99,
            "long_prompt_ttft": long_res[0] if long_res else float("nan")}


def exaone_pp512(exaone, model, threads):
    out = subprocess.run([exaone, "bench", "-m", model, "-p", "512", "-n", "16", "-t", str(threads), "--json"],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)["prefill"]["tokens_per_s"]


def print_row(name, row):
    print(f"  {name:12s} c={row['concurrency']:2d} agg {row['agg_tok_s']:7.1f} tok/s (steady {row['steady_tok_s']:6.1f})"
          f"  ttft p50/p99 {row['ttft_p50']*1e3:7.0f}/{row['ttft_p99']*1e3:7.0f} ms"
          f"  itl p50/p99 {row['itl_p50']*1e3:6.1f}/{row['itl_p99']*1e3:6.1f} ms"
          f"  ({row['requests']} requests, {row['errors']} errors)", flush=True)


def median_rows(rows):
    """Per-field median over rounds of one server at one level."""
    out = dict(rows[0])
    for k, v in rows[0].items():
        if isinstance(v, float):
            vals = [r[k] for r in rows if r[k] == r[k]]
            out[k] = statistics.median(vals) if vals else float("nan")
    out["rounds"] = len(rows)
    return out


def measure_model(args, model, env, levels):
    """Both servers up at once, idle in turn: each round measures pp512, then every level on exaone serve and
    llama-server back to back, then the prefill-interference test on each. The host drifts by tens of percent
    within minutes, so the ratios come from figures taken minutes apart, and the medians over rounds."""
    servers = {"exaone": Server([args.exaone, "serve", "-m", model, "--port", "0", "--parallel", "16", "--ctx", "4096"],
                                env, r"listening on http://127\.0\.0\.1:(\d+)")}
    try:
        if args.llama_server and os.path.exists(args.llama_server):
            port = 18000 + random.randint(0, 999)
            lib_dir = os.path.dirname(os.path.abspath(args.llama_server))  # the package keeps its libraries beside it
            llama_env = dict(env, LD_LIBRARY_PATH=lib_dir + ":" + env.get("LD_LIBRARY_PATH", ""))
            servers["llama-server"] = Server([args.llama_server, "-m", model, "-t", str(args.threads), "-np", "16",
                                              "-c", str(16 * 4096), "--port", str(port), "--host", "127.0.0.1"],
                                             llama_env, None, port=port)
        else:
            print("  llama-server: skipped (not installed; scripts/peers-env.sh builds it)")
        entry = {"pp512_rounds": [], "rounds": args.rounds}
        rows = {name: {c: [] for c in levels} for name in servers}
        prefill = {name: [] for name in servers}
        for r in range(args.rounds):
            pp = exaone_pp512(args.exaone, model, args.threads)
            entry["pp512_rounds"].append(pp)
            print(f"  round {r + 1}/{args.rounds}: exaone bench pp512 {pp:.1f} tok/s", flush=True)
            for c in levels:
                for name, srv in servers.items():
                    row = load_level(srv.port, c, args.max_tokens, max(1, 8 // c))
                    rows[name][c].append(row)
                    print_row(name, row)
            for name, srv in servers.items():
                res = prefill_interference(srv.port)
                prefill[name].append(res)
                print(f"  {name} prefill interference: {res}", flush=True)
        entry["pp512"] = statistics.median(entry["pp512_rounds"])
        print(f"  -- medians over {args.rounds} round(s); pp512 {entry['pp512']:.1f} tok/s")
        for name in servers:
            entry[name] = [median_rows(rows[name][c]) for c in levels]
            for row in entry[name]:
                print_row(name, row)
            entry[name + "_prefill"] = {k: statistics.median(p[k] for p in prefill[name]) for k in prefill[name][0]}
            pi = entry[name + "_prefill"]
            print(f"  {name:12s} p99 itl idle {pi['itl_p99_idle']*1e3:.1f} ms, during a long prefill"
                  f" {pi['itl_p99_during_prefill']*1e3:.1f} ms ({pi['itl_p99_during_prefill'] / pi['itl_p99_idle']:.2f}x)")
        if 8 in levels:
            ex = entry["exaone"][levels.index(8)]["agg_tok_s"]
            line = f"  8 streams: exaone {ex:.1f} tok/s = {ex / entry['pp512']:.2f} x pp512"
            if "llama-server" in entry:
                line += f" = {ex / entry['llama-server'][levels.index(8)]['agg_tok_s']:.2f} x llama-server"
            print(line)
        return entry
    finally:
        for srv in servers.values():
            srv.stop()


def prepare(exaone, hf_dir, types):
    """A serving copy of a tokenizer-less random checkpoint: config and weights linked, the bundled tiny
    model's tokenizer padded to the vocabulary with filler tokens no merge produces, GGUF files converted."""
    out = hf_dir.rstrip("/") + "-serve"
    os.makedirs(out, exist_ok=True)
    tiny = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "exaone4-tiny")
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    for name in os.listdir(hf_dir):
        if name.endswith(".safetensors") or name.endswith(".json"):
            dst = os.path.join(out, name)
            if not os.path.exists(dst):
                os.symlink(os.path.abspath(os.path.join(hf_dir, name)), dst)
    with open(os.path.join(tiny, "tokenizer.json")) as f:
        tok = json.load(f)
    used = set(tok["model"]["vocab"].values()) | {a["id"] for a in tok["added_tokens"]}
    for i in range(cfg["vocab_size"]):
        if i not in used:
            tok["model"]["vocab"][f"<filler_{i}>"] = i
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        with open(os.path.join(tiny, name)) as src, open(os.path.join(out, name), "w") as dst:
            dst.write(src.read())
    files = []
    for t in types:
        gguf = os.path.join(out, f"{t}.gguf")
        if not os.path.exists(gguf):
            subprocess.run([exaone, "convert", "-m", out, "-o", gguf, "-t", t], check=True, stdout=subprocess.DEVNULL)
        files.append(gguf)
    print("prepared: " + " ".join(files))
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--prepare", default="", help="random checkpoint folder to make serving GGUF files of")
    ap.add_argument("--types", default="q4_0,q8_0")
    ap.add_argument("--exaone", default="build/exaone")
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER", ""))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--levels", default="1,2,4,8,16")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of every measurement; medians are reported")
    ap.add_argument("--json-out", default="")
    args = ap.parse_args()
    if args.prepare:
        prepare(args.exaone, args.prepare, args.types.split(","))
        return 0
    levels = [int(x) for x in args.levels.split(",")]
    env = dict(os.environ, EXAONE_THREADS=str(args.threads))
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True, text=True).stdout.strip()
    print(f"CPU: {cpu}; {args.threads} threads; {time.strftime('%Y-%m-%d')}")
    report = {"cpu": cpu, "threads": args.threads, "models": {}}
    for model in args.models:
        print(f"\n== {os.path.basename(model)}")
        entry = measure_model(args, model, env, levels)
        report["models"][model] = entry
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
