"""``exaone comply scan`` on a Ray cluster, through Ray Data.

    python -m exaone_comply.ray_scan --in PATH --out DIR [--address ADDR] [scan options]

The input files are cut into byte ranges (``--chunk-mb``); a line belongs to the range it starts
in. Ray Data runs two passes over the ranges on the workers: the first counts each range's lines
and documents (so every document gets its line number and ordinal), the second reads the range
and does all the per-document work through the C++ library: parsing, detection, the action,
licence screening, SHA-256 digests and the MinHash signature. The driver then takes the results
in input order and runs the one deterministic in-order pass of ``exaone comply scan``: exact and
near-duplicate decisions across all shards, shards, manifest, report and digests. The outputs
are the files the CLI writes for the same input and options.

Workers read the input by path, so on a cluster with more than one machine ``--in`` must be on
storage that every node mounts at the same path. Without ``--address`` a local Ray instance is
started on the loopback interface only.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Optional

from . import _core, _options

_PLANS: Dict[str, Any] = {}
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _plan(options: Dict[str, Any]):
    """One ScanPlan per worker process and option set (cards and policy are read once)."""
    import json

    k = json.dumps(options, sort_keys=True)
    plan = _PLANS.get(k)
    if plan is None:
        plan = _PLANS[k] = _core.ScanPlan(options)
    return plan


def _count(batch: Dict[str, Any], options: Dict[str, Any]) -> Dict[str, Any]:
    plan = _plan(options)
    lines, docs = [], []
    for f, b, e in zip(batch["file"], batch["begin"], batch["end"]):
        n_lines, n_docs = plan.count_range(int(f), int(b), int(e))
        lines.append(n_lines)
        docs.append(n_docs)
    return {"index": batch["index"], "lines": lines, "docs": docs}


def _process(batch: Dict[str, Any], options: Dict[str, Any]) -> Dict[str, Any]:
    plan = _plan(options)
    out = []
    for f, b, e, line, ordinal in zip(batch["file"], batch["begin"], batch["end"], batch["first_line"],
                                      batch["first_ordinal"]):
        out.append(plan.process_range(int(f), int(b), int(e), int(line), int(ordinal)))
    return {"index": batch["index"], "results": out}


def plan_ranges(files: List[tuple], chunk_bytes: int) -> List[Dict[str, int]]:
    """Byte ranges of the input files, in input order (a text file is one range)."""
    ranges = []
    for i, (_path, _rel, jsonl, size) in enumerate(files):
        if not jsonl:
            ranges.append({"file": i, "begin": 0, "end": max(size, 1)})
            continue
        for b in range(0, size, chunk_bytes):
            ranges.append({"file": i, "begin": b, "end": min(size, b + chunk_bytes)})
    for k, r in enumerate(ranges):
        r["index"] = k
    return ranges


def ray_scan(input: str, out: str, *, address: Optional[str] = None, num_workers: Optional[int] = None,
             chunk_mb: float = 4, **options) -> Dict[str, Any]:
    """Runs the scan on Ray; returns the summary of :func:`exaone_comply.scan` plus ``ranges``.

    ``options`` are those of :func:`exaone_comply.scan`. With ``address`` the scan joins that Ray
    cluster; else, if Ray is not initialised yet, a local instance with ``num_workers`` CPUs
    (default 2) is started on 127.0.0.1 without a dashboard.
    """
    if not address:
        # Ray swaps a loopback node address for the machine's outward one unless its cluster mode
        # is off; with it off, every Ray process of a local instance listens on 127.0.0.1 only.
        # Read when ray is imported, so set before.
        os.environ.setdefault(LOOPBACK_ENV, "0")
    import ray

    opts = _options(input=input, out=out, **options)
    worker_opts = {k: v for k, v in opts.items() if k not in ("out", "force", "resume", "threads")}
    plan = _core.ScanPlan(worker_opts)  # bad options and inputs fail here, before Ray starts
    ranges = plan_ranges(plan.files, max(1, int(chunk_mb * (1 << 20))))

    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            if ray._private.ray_constants.ENABLE_RAY_CLUSTER:
                print(f"ray_scan: ray was imported before {LOOPBACK_ENV}=0 was set; the local Ray instance may "
                      "listen on other addresses than 127.0.0.1", file=sys.stderr)
            ray.init(num_cpus=num_workers or 2, _node_ip_address="127.0.0.1", include_dashboard=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # results come back in input order
    n_blocks = max(1, len(ranges))

    t0 = time.perf_counter()
    counts = sorted(
        ray.data.from_items(ranges, override_num_blocks=n_blocks)
        .map_batches(_count, fn_kwargs={"options": worker_opts}, batch_size=1)
        .take_all(),
        key=lambda r: r["index"])
    line, ordinal, prev_file = 1, 0, None
    for r, c in zip(ranges, counts):
        if r["file"] != prev_file:
            line, prev_file = 1, r["file"]
        r["first_line"], r["first_ordinal"] = line, ordinal
        line += int(c["lines"])
        ordinal += int(c["docs"])

    results = (ray.data.from_items(ranges, override_num_blocks=n_blocks)
               .map_batches(_process, fn_kwargs={"options": worker_opts}, batch_size=1)
               .iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=4))
    it = iter(results)
    expected = [0]

    def next_results():
        batch = next(it, None)
        if batch is None:
            if expected[0] != len(ranges):
                raise RuntimeError(f"ray_scan: {expected[0]} of {len(ranges)} ranges came back")
            return None
        if int(batch["index"][0]) != expected[0]:
            raise RuntimeError(f"ray_scan: range {int(batch['index'][0])} came back out of order")
        expected[0] += 1
        return bytes(batch["results"][0])

    summary = _core.scan(opts, next_results)
    summary["seconds"] = time.perf_counter() - t0
    summary["ranges"] = len(ranges)
    return summary


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exaone_comply.ray_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("--in", dest="input", required=True, help="JSONL file, text file, or folder of them")
    p.add_argument("--out", required=True, help="output folder (as exaone comply scan --out)")
    p.add_argument("--address", help="Ray cluster to join (e.g. ray://head:10001 or auto); default: a local one")
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    p.add_argument("--chunk-mb", type=float, default=4, help="size of the byte ranges handed to workers")
    p.add_argument("--policy")
    p.add_argument("--cards", nargs="*", default=[])
    p.add_argument("--action", default="report", choices=["report", "mask", "pseudonymize", "drop"])
    p.add_argument("--key-file", help="pseudonymisation key (else EXAONE_COMPLY_KEY)")
    p.add_argument("--drop-threshold", type=int)
    p.add_argument("--near-threshold", type=float, default=0.8)
    p.add_argument("--no-near-dedup", action="store_true")
    p.add_argument("--no-exact-dedup", action="store_true")
    p.add_argument("--drop-near-duplicates", action="store_true")
    p.add_argument("--shard-mb", type=float, default=256)
    p.add_argument("--force", action="store_true")
    a = p.parse_args(argv)
    key = None
    if a.key_file:
        with open(a.key_file, "rb") as f:
            key = f.read().rstrip(b"\r\n").decode()
    try:
        s = ray_scan(a.input, a.out, address=a.address, num_workers=a.workers, chunk_mb=a.chunk_mb,
                     policy=a.policy, cards=a.cards, action=a.action, key=key, drop_threshold=a.drop_threshold,
                     near_threshold=a.near_threshold, near_dedup=not a.no_near_dedup,
                     exact_dedup=not a.no_exact_dedup, drop_near_duplicates=a.drop_near_duplicates,
                     shard_mb=a.shard_mb, force=a.force)
    except _core.ComplyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mb = s["bytes"] / 1e6
    print(f"{s['documents']} documents ({mb:.1f} MB) in {s['seconds']:.2f} s ({mb / max(s['seconds'], 1e-9):.1f} MB/s): "
          f"{s['kept']} kept, {s['quarantined']} quarantined, {s['excluded']} excluded, {s['dropped']} dropped, "
          f"{s['duplicates']} duplicates, {s['errors']} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
