"""Load test of `exaone serve`: 64 concurrent clients x 8 requests, greedy, compared with each request alone.

Continuous batching must not change greedy output, lose requests, or leak memory: every response is complete and
identical to the same request run alone, the server's resident memory after the load is within 10% of what it
was after a warm-up round of the same load, and the queue and running gauges return to 0.
"""

import json
import threading
import time

import requests

from conftest import wait_until
from helpers import MODEL_NAME, sse_chunks

CLIENTS = 64
PER_CLIENT = 8
MAX_SECONDS = 300
MAX_TOKENS = [16, 24, 32, 48]

# Shared prefixes: a few long system prompts (so prefix reuse across requests matters) and none.
SYSTEMS = [
    None,
    "You are a meticulous travel agent. " + " ".join(f"Rule {i}: always double-check the dates." for i in range(30)),
    "You answer questions about cooking. " + " ".join(f"Tip {i}: taste as you go." for i in range(20)),
    "당신은 친절한 한국어 도우미입니다. 항상 존댓말을 사용하세요. " * 8,
]
TOPICS = ["the sea", "mountains", "bread", "trains", "서울", "the moon", "rice", "jazz",
          "rivers", "김치", "bicycles", "winter", "tea", "volcanoes", "libraries", "owls"]


def make_requests():
    """CLIENTS * PER_CLIENT distinct chat requests: (body, stream)."""
    out = []
    for c in range(CLIENTS):
        for k in range(PER_CLIENT):
            i = c * PER_CLIENT + k
            system = SYSTEMS[i % len(SYSTEMS)]
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": f"Request {i}: tell me something about {TOPICS[i % len(TOPICS)]}."})
            body = {"model": MODEL_NAME, "messages": messages, "temperature": 0,
                    "max_tokens": MAX_TOKENS[(i // 3) % len(MAX_TOKENS)]}
            stream = i % 4 == 1
            if stream:
                body.update(stream=True, stream_options={"include_usage": True})
            out.append((body, stream))
    return out


def run_one(session, url, body, stream):
    """(content, finish_reason, completion_tokens, prompt_tokens) of one request; asserts the response's shape."""
    r = session.post(url + "/v1/chat/completions", json=body, stream=stream, timeout=300)
    assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
    if not stream:
        j = r.json()
        c = j["choices"][0]
        u = j["usage"]
        content, finish = c["message"]["content"] or "", c["finish_reason"]
    else:
        chunks, done = sse_chunks(r)
        assert done, "stream ended without [DONE]"
        content, finish, usages = "", None, []
        for ch in chunks:
            if ch.get("usage"):
                usages.append(ch["usage"])
            for choice in ch["choices"]:
                content += choice["delta"].get("content") or ""
                if choice.get("finish_reason"):
                    assert finish is None, "two finish reasons"
                    finish = choice["finish_reason"]
        assert len(usages) == 1, usages
        u = usages[0]
    assert finish in ("stop", "length"), finish
    assert u["prompt_tokens"] > 0
    assert 0 <= u["completion_tokens"] <= body["max_tokens"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    if finish == "length":
        assert u["completion_tokens"] == body["max_tokens"]
    return content, finish, u["completion_tokens"], u["prompt_tokens"]


def run_load(url, reqs):
    """All requests from CLIENTS threads (client c sends its PER_CLIENT requests one after another)."""
    results = [None] * len(reqs)
    errors = []
    barrier = threading.Barrier(CLIENTS)

    def client(c):
        with requests.Session() as s:
            barrier.wait()
            for k in range(PER_CLIENT):
                i = c * PER_CLIENT + k
                try:
                    results[i] = run_one(s, url, *reqs[i])
                except Exception as e:  # noqa: BLE001 (collected and reported)
                    errors.append(f"request {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(MAX_SECONDS + 60 - (time.monotonic() - t0))
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), f"clients still running after {elapsed:.0f} s"
    assert not errors, f"{len(errors)} failed requests, first: {errors[:5]}"
    assert all(r is not None for r in results), "lost responses"
    return results, elapsed


def test_load(start_server):
    s = start_server("--parallel", "8")
    url = s.base_url
    reqs = make_requests()
    assert len(reqs) == CLIENTS * PER_CLIENT == 512
    assert len({json.dumps(b["messages"]) for b, _ in reqs}) == len(reqs), "prompts are not distinct"

    # Each request alone, one after another: the reference answers.
    t0 = time.monotonic()
    with requests.Session() as session:
        alone = [run_one(session, url, body, stream) for body, stream in reqs]
    t_alone = time.monotonic() - t0

    ok_before = s.metric("exaone_requests_total", status="200")
    warm, t_warm = run_load(url, reqs)
    assert wait_until(lambda: s.metric("exaone_running_sequences") == 0 and s.metric("exaone_queue_length") == 0,
                      timeout=10)
    rss_warm = s.rss_kib()

    loaded, t_load = run_load(url, reqs)
    assert t_load < MAX_SECONDS, f"the load took {t_load:.0f} s"
    assert wait_until(lambda: s.metric("exaone_running_sequences") == 0 and s.metric("exaone_queue_length") == 0,
                      timeout=10), "running sequences or queue length did not return to 0"
    rss_after = s.rss_kib()

    for name, results in (("warm-up", warm), ("load", loaded)):
        diffs = [i for i in range(len(reqs)) if results[i] != alone[i]]
        assert not diffs, (f"{len(diffs)} {name} responses differ from the same request alone; first #{diffs[0]}: "
                           f"alone {alone[diffs[0]]!r} vs {results[diffs[0]]!r}")
    assert s.metric("exaone_requests_total", status="200") - ok_before >= 2 * len(reqs)
    # 10%, or 16 MiB for the allocator arenas of the HTTP threads on a small model, whichever is more.
    assert rss_after <= max(rss_warm * 1.10, rss_warm + 16384), f"RSS grew from {rss_warm} KiB after the warm-up to {rss_after} KiB"
    print(f"\nload: alone {t_alone:.1f} s, warm-up {t_warm:.1f} s, load {t_load:.1f} s, "
          f"RSS {rss_warm} -> {rss_after} KiB")
