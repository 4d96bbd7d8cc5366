"""Tests of the exaone_comply package (python/): the bindings agree with the C++ library and the
CLI, batch columns agree with single calls, and the Ray Data scan writes what `exaone comply scan`
writes. Run by scripts/run-comply-python-tests.sh (CTest: comply_python_tests)."""
import json
import os
import random
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

# Before ray is imported: a local Ray instance then listens on loopback only (see ray_scan.py).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.pop("RAY_ADDRESS", None)

import exaone_comply as ec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests" / "fixtures" / "comply" / "eval_set.jsonl"
BINARY = os.environ.get("EXAONE_BINARY", "")


def eval_docs(n=None):
    docs = [json.loads(l) for l in EVAL.read_text(encoding="utf-8").splitlines() if l.strip()]
    return docs[:n] if n else docs


def test_detect_finds_types_with_byte_and_char_offsets():
    text = "연락처: ０１０-１２３４-５６７８, 주민번호 900101-1234568, mail kim@example.com"
    found = ec.detect(text)
    types = [f.type for f in found]
    assert types == ["phone", "rrn", "email"]
    raw = text.encode()
    for f in found:
        assert raw[f.start:f.end].decode() == text[f.char_start:f.char_end]
        assert 0.5 <= f.confidence <= 1 and f.rule.startswith(f.type.split("_")[0][:2])
    assert ec.detect("버전 1.2.3.4, 주문번호 2024011512345") == []
    assert set(ec.finding_types()) >= {"rrn", "phone", "card", "email", "secret"}


def test_transform_mask_and_pseudonym():
    assert ec.transform("전화 010-1234-5678 주세요", "mask") == "전화 010-****-5678 주세요"
    a = ec.transform("전화 010-1234-5678", "pseudonymize", key="k1")
    b = ec.transform("전화 +82 10 1234 5678", "pseudonymize", key="k1")
    c = ec.transform("전화 010-1234-5678", "pseudonymize", key="k2")
    assert a.split()[1] == b.split()[1] != c.split()[1]
    assert a.split()[1].startswith("[phone:")
    assert ec.transform("전화 010-1234-5678", "report") == "전화 010-1234-5678"
    with pytest.raises(ec.ComplyError):
        ec.transform("x", "pseudonymize", key="")
    with pytest.raises(ValueError):
        ec.transform("x", "shred")


def test_scan_document_is_the_manifest_record(tmp_path):
    docs = eval_docs(40)
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n"
                           for d in docs[:1]), encoding="utf-8")
    ec.scan(str(inp), str(tmp_path / "out"), action="mask", near_dedup=False)
    want = json.loads((tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0])
    got = ec.scan_document(docs[0]["text"], id=docs[0]["id"], action="mask", file="in.jsonl")
    assert got == want
    assert [f["type"] for f in got["findings"]] == [f.type for f in ec.detect(docs[0]["text"])]


def test_batch_columns_agree_with_single_calls():
    pa = pytest.importorskip("pyarrow")
    texts = [d["text"] for d in eval_docs(200)] + ["", "no findings here"]
    for batch in (texts, pa.array(texts), pa.array(texts, type=pa.large_string()), pa.array(texts).slice(3, 50)):
        n = len(batch)
        sub = texts[3:53] if n == 50 else texts
        cols = ec.process_batch(batch, action="mask", threads=2)
        f = cols["findings"]
        assert len(cols["num_findings"]) == n and sum(cols["num_findings"]) == len(f["doc"])
        table = ec.to_arrow(cols)
        assert table.num_rows == n
        for i in (0, 1, 7, n - 1):
            single = ec.detect(sub[i])
            rows = [k for k in range(len(f["doc"])) if f["doc"][k] == i]
            assert [(f["type"][k], f["start"][k], f["end"][k], f["rule"][k]) for k in rows] == \
                   [(x.type, x.start, x.end, x.rule) for x in single]
            assert table["output"][i].as_py() == ec.transform(sub[i], "mask")
        assert cols["minhash"].shape == (n, 128) and cols["exact_key"].shape == (n, 2)
    det = ec.detect_batch(texts[:10])
    assert set(det) == {"doc", "type", "start", "end", "char_start", "char_end", "confidence", "rule"}


def test_batch_releases_the_gil():
    texts = [d["text"] for d in eval_docs()] * 20
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    ec.process_batch(texts, threads=1)
    stop.set()
    t.join()
    assert len(ticks) > 5  # the other thread ran while the batch was being processed


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ec.ComplyError, match="no such file"):
        ec.scan(str(tmp_path / "missing.jsonl"), str(tmp_path / "out"))
    with pytest.raises(TypeError):
        ec.process_batch([b"bytes are not text"])


# ------------------------------------------------------------------ Ray Data
def make_corpus(root: Path):
    """Three JSONL shards with exact and near duplicates across shards, blank and broken lines,
    a source card for part of it, and a plain text file."""
    rng = random.Random(7)
    docs = eval_docs()
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "source.json").write_text(json.dumps({"name": "a", "license": "CC-BY-4.0",
                                                        "commercial_use": True}))
    lines = [json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) for d in docs]
    dup = lines[5]
    near = json.dumps({"id": "near-1", "text": docs[9]["text"] + " 끝."}, ensure_ascii=False)
    shards = [lines[:300] + ["", "{broken json", dup], lines[300:550] + ["   ", near, json.dumps({"text": 5})],
              lines[550:] + [dup, lines[100]]]
    for i, s in enumerate(shards):
        folder = root / ("a" if i == 0 else "b")
        (folder / f"part-{i}.jsonl").write_text("\n".join(s) + ("\n" if i != 2 else ""), encoding="utf-8")
    (root / "b" / "note.txt").write_text("담당자 김철수님 전화 010-9876-5432\n", encoding="utf-8")
    return root


def run_cli_scan(inp, out, *extra):
    if BINARY and os.access(BINARY, os.X_OK):
        subprocess.run([BINARY, "comply", "scan", "--in", str(inp), "--out", str(out), "--threads", "2", *extra],
                       check=True, capture_output=True)
    else:  # the same C++ scan, in process
        ec.scan(str(inp), str(out), threads=2, action=extra[1] if extra else "report")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]')")
    # Loopback only: no other address of the machine is bound or connected to.
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_local_ray_listens_on_loopback_only(local_ray):
    psutil = pytest.importorskip("psutil")
    local_ray.get([local_ray.remote(lambda: 1).remote() for _ in range(4)])  # workers started
    ours = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    for p in psutil.process_iter(["pid", "cmdline"]):
        if any("ray" in part for part in (p.info["cmdline"] or [])[:2]):
            ours.add(p.info["pid"])
    listening = [c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in ours]
    assert listening, "no listening socket of Ray found"
    for c in listening:
        assert c.laddr.ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1"), c


@pytest.mark.parametrize("action", ["report", "mask"])
def test_ray_scan_writes_what_the_cli_writes(tmp_path, local_ray, action):
    from exaone_comply.ray_scan import ray_scan

    corpus = make_corpus(tmp_path / "corpus")
    run_cli_scan(corpus, tmp_path / "cli", "--action", action)
    # Small ranges, so lines cross range borders and every worker gets many ranges.
    s = ray_scan(str(corpus), str(tmp_path / "ray"), chunk_mb=0.01, action=action)
    assert s["complete"] and s["ranges"] > 20
    cli, ray_out = tmp_path / "cli", tmp_path / "ray"
    want = [json.loads(l) for l in (cli / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    got = [json.loads(l) for l in (ray_out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(got) == len(want) > 800
    for g, w in zip(got, want):
        for k in ("id", "input", "findings", "decision", "reasons", "sha256", "duplicate_of", "near_duplicate_of"):
            assert g.get(k) == w.get(k), (k, w["id"])
    decisions = {m["decision"] for m in got}
    assert {"keep", "quarantine", "duplicate", "error"} <= decisions
    assert any("near_duplicate_of" in m for m in got)
    # Byte for byte: manifest, report, shards and their digests.
    assert (ray_out / "manifest.sha256").read_text() == (cli / "manifest.sha256").read_text()
    assert ec.verify_manifest(str(ray_out)) >= 3


def test_ray_scan_cli_entry_point(tmp_path, local_ray):
    from exaone_comply import ray_scan

    corpus = make_corpus(tmp_path / "corpus")
    assert ray_scan.main(["--in", str(corpus), "--out", str(tmp_path / "o"), "--chunk-mb", "0.05"]) == 0
    assert ray_scan.main(["--in", str(corpus), "--out", str(tmp_path / "o")]) == 2  # not empty, no --force
