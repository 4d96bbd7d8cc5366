"""HTTP-level behaviour of `exaone serve` (requests): errors, API keys, limits, queueing, disconnects, metrics,
and the tokenizer endpoints."""

import json
import re
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import parse_metrics, wait_until
from helpers import MODEL_NAME, NO_EOS, post, sse_chunks, user

CHAT = "/v1/chat/completions"


def check_error(r, status, param="any", mention=None):
    """An OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    body = r.json()
    assert set(body) == {"error"}, body
    e = body["error"]
    assert isinstance(e.get("message"), str) and e["message"], e
    assert isinstance(e.get("type"), str) and e["type"], e
    assert "param" in e and "code" in e, e
    if 400 <= status < 500 and status not in (401, 404, 429):
        assert e["type"] == "invalid_request_error", e
    if param != "any":
        assert e["param"] == param, f"param {e['param']!r}, expected {param!r}: {e}"
    if mention:
        assert mention.lower() in e["message"].lower(), f"message does not name {mention!r}: {e['message']}"
    return e


def chat_ok(**kw):
    body = {"model": MODEL_NAME, "messages": user("Hi"), "max_tokens": 4}
    body.update(kw)
    return body


# ---------------------------------------------------------------------------------------------- request errors

def test_malformed_json(base_url):
    r = requests.post(base_url + CHAT, data=b'{"model": "x", "messages": [', timeout=30,
                      headers={"Content-Type": "application/json"})
    check_error(r, 400)


def test_body_not_an_object(base_url):
    check_error(post(base_url, CHAT, ["not", "an", "object"]), 400)


@pytest.mark.parametrize("field,value", [
    ("messages", "hello"),
    ("max_tokens", "ten"),
    ("temperature", "hot"),
    ("top_p", [1]),
    ("stream", "yes"),
    ("stop", 5),
    ("seed", "abc"),
    ("logit_bias", [1, 2]),
    ("tools", "none"),
])
def test_wrong_types(base_url, field, value):
    check_error(post(base_url, CHAT, chat_ok(**{field: value})), 400, param=field, mention=field)


def test_unknown_role(base_url):
    e = check_error(post(base_url, CHAT, chat_ok(messages=[{"role": "wizard", "content": "hi"}])), 400,
                    mention="role")
    assert e["param"] in (None, "messages") or "messages" in e["param"], e


def test_empty_messages(base_url):
    check_error(post(base_url, CHAT, chat_ok(messages=[])), 400, param="messages", mention="messages")


def test_missing_messages(base_url):
    check_error(post(base_url, CHAT, {"model": MODEL_NAME}), 400, param="messages", mention="messages")


def test_prompt_longer_than_context(base_url):
    long = "hello world " * 2500  # ~5000 tokens, the tiny model's context is 2048
    e = check_error(post(base_url, CHAT, chat_ok(messages=user(long))), 400)
    numbers = [int(x) for x in re.findall(r"\d+", e["message"])]
    assert 2048 in numbers, e["message"]
    assert any(n > 2048 for n in numbers), f"the prompt's length is not in the message: {e['message']}"


def test_n_2(base_url):
    check_error(post(base_url, CHAT, chat_ok(n=2)), 400, param="n", mention="n")
    assert post(base_url, CHAT, chat_ok(n=1)).status_code == 200


def test_negative_max_tokens(base_url):
    check_error(post(base_url, CHAT, chat_ok(max_tokens=-1)), 400, param="max_tokens", mention="max_tokens")


def test_completions_errors(base_url):
    check_error(post(base_url, "/v1/completions", {"model": MODEL_NAME, "prompt": 12, "max_tokens": 4}), 400,
                param="prompt", mention="prompt")
    check_error(post(base_url, "/v1/completions", {"model": MODEL_NAME, "max_tokens": 4}), 400, mention="prompt")


@pytest.mark.parametrize("body", [
    None, 5, "text", {},
    {"messages": None},
    {"messages": [{"role": "user"}]},
    {"messages": [{"content": "no role"}]},
    {"messages": [{"role": "user", "content": 5}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
    {"messages": [{"role": "tool", "content": "orphan tool result"}]},
    {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}]},
    {"temperature": 1e308}, {"temperature": -1}, {"top_p": -1}, {"top_p": 7}, {"top_k": -5}, {"min_p": 2},
    {"max_tokens": 0}, {"max_tokens": 10 ** 30}, {"seed": -1}, {"seed": 10 ** 30},
    {"logit_bias": {"abc": 1}}, {"logit_bias": {"99999999": 5}}, {"logit_bias": {"5": "x"}},
    {"stop": [1, 2]}, {"stop": ["a"] * 100}, {"stop": [""]},
    {"logprobs": True, "top_logprobs": 100}, {"top_logprobs": -1, "logprobs": True},
    {"stream_options": "yes", "stream": True},
    {"response_format": {"type": "json_schema"}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string",
                                                                                       "pattern": "a+"}}}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}},
    {"response_format": {"type": "xml"}},
    {"tools": [{"type": "function"}]},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
     "tool_choice": "bogus"},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
     "tool_choice": {"type": "function", "function": {"name": "missing"}}},
    {"tool_choice": "required"},
    {"chat_template_kwargs": "x"}, {"chat_template_kwargs": {"enable_thinking": "maybe"}},
    {"reasoning_effort": 5},
])
def test_never_5xx(base_url, body):
    """Odd requests give 2xx or an OpenAI-shaped 4xx, never a server error."""
    if isinstance(body, dict):
        full = chat_ok(max_tokens=4)
        full.update(body)
    else:
        full = body
    r = post(base_url, CHAT, full)
    assert r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    if r.status_code >= 400:
        check_error(r, r.status_code)
    elif full.get("stream") is not True:
        assert r.json()["choices"], r.text


@pytest.mark.parametrize("path,body", [
    ("/api/chat", b"{bad json"),
    ("/api/chat", json.dumps({"model": MODEL_NAME}).encode()),
    ("/api/chat", json.dumps({"model": MODEL_NAME, "messages": "x", "stream": False}).encode()),
    ("/api/generate", json.dumps({"model": MODEL_NAME, "prompt": 5, "stream": False}).encode()),
    ("/api/generate", json.dumps({"model": MODEL_NAME, "prompt": "x", "options": "y", "stream": False}).encode()),
    ("/api/show", b"[]"),
    ("/v1/completions", b"{"),
    ("/tokenize", json.dumps({"content": 5}).encode()),
    ("/detokenize", json.dumps({"tokens": ["a"]}).encode()),
    ("/detokenize", json.dumps({"tokens": [10 ** 9]}).encode()),
    ("/apply-template", json.dumps({"messages": 3}).encode()),
])
def test_other_endpoints_reject_cleanly(base_url, path, body):
    r = requests.post(base_url + path, data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= r.status_code < 500, f"{path}: {r.status_code}: {r.text[:300]}"
    assert "error" in r.json()


def test_unknown_paths(base_url):
    assert requests.get(base_url + "/v1/nothing", timeout=10).status_code == 404
    assert requests.post(base_url + "/v2/chat/completions", json={}, timeout=10).status_code == 404
    assert requests.get(base_url + "/api/nothing", timeout=10).status_code == 404
    assert requests.get(base_url + CHAT, timeout=10).status_code in (404, 405)


def test_health(base_url):
    r = requests.get(base_url + "/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"


# ---------------------------------------------------------------------------------------------- server flags

def test_api_key(start_server, tmp_path):
    s = start_server("--api-key", "sekret-123")
    url = s.base_url
    check_error(requests.post(url + CHAT, json=chat_ok(), timeout=30), 401)
    check_error(requests.post(url + CHAT, json=chat_ok(), headers={"Authorization": "Bearer wrong"}, timeout=30), 401)
    check_error(requests.post(url + CHAT, json=chat_ok(), headers={"Authorization": "sekret-123"}, timeout=30), 401)
    check_error(requests.get(url + "/v1/models", timeout=30), 401)
    assert requests.post(url + "/api/chat", json={"model": MODEL_NAME, "messages": user("x"), "stream": False},
                         timeout=30).status_code == 401
    ok = requests.post(url + CHAT, json=chat_ok(), headers={"Authorization": "Bearer sekret-123"}, timeout=30)
    assert ok.status_code == 200, ok.text
    assert requests.get(url + "/health", timeout=10).status_code == 200  # open without a key
    # The key can come from a file too (trailing newline ignored).
    key_file = tmp_path / "key"
    key_file.write_text("from-file-key\n")
    s2 = start_server("--api-key-file", str(key_file))
    assert requests.post(s2.base_url + CHAT, json=chat_ok(), timeout=30).status_code == 401
    assert requests.post(s2.base_url + CHAT, json=chat_ok(), timeout=30,
                         headers={"Authorization": "Bearer from-file-key"}).status_code == 200


def test_limits(start_server):
    s = start_server("--max-body-bytes", "4096", "--max-tokens-limit", "64", "--model-name", "tiny-test")
    url = s.base_url
    big = chat_ok(messages=user("x" * 8000))
    check_error(requests.post(url + CHAT, json=big, timeout=30), 413)
    assert requests.post(url + CHAT, json=chat_ok(max_tokens=64, model="tiny-test"), timeout=30).status_code == 200
    check_error(requests.post(url + CHAT, json=chat_ok(max_tokens=65), timeout=30), 400,
                param="max_tokens", mention="max_tokens")
    ids = [m["id"] for m in requests.get(url + "/v1/models", timeout=10).json()["data"]]
    assert "tiny-test" in ids, ids


def test_queue_full_gives_429(start_server):
    s = start_server("--parallel", "1", "--max-queue", "1")
    url = s.base_url
    n = 8
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        body = chat_ok(messages=user(f"Tell me a long story number {i}."), max_tokens=1500, stream=True,
                       logit_bias=NO_EOS)
        barrier.wait()
        try:
            r = requests.post(url + CHAT, json=body, stream=True, timeout=120)
            if r.status_code == 200:
                chunks, done = sse_chunks(r)
                results[i] = (200, done, None, None)
            else:
                results[i] = (r.status_code, None, r.headers.get("Retry-After"), r.json())
        except Exception as e:  # noqa: BLE001 (reported below)
            results[i] = ("exception", repr(e), None, None)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    statuses = [r[0] for r in results]
    assert all(st in (200, 429) for st in statuses), results
    assert statuses.count(200) >= 2, statuses  # one running, one queued
    assert statuses.count(429) >= 1, statuses
    for st, _, retry_after, body in results:
        if st == 429:
            assert retry_after is not None and int(retry_after) >= 0, retry_after
            assert isinstance(body["error"]["message"], str)
        else:
            assert _ is True  # the accepted streams completed with [DONE]
    assert wait_until(lambda: s.metric("exaone_queue_length") == 0 and s.metric("exaone_running_sequences") == 0)


def test_connection_burst(server):
    """128 clients connecting at the same moment all get answers (no connection refused or reset: the listen
    backlog must hold a burst), 5 times."""
    n, rounds = 128, 5
    failures, ok = [], [0]
    lock = threading.Lock()

    def client(barrier, i):
        barrier.wait()
        try:
            r = requests.post(server.base_url + CHAT, timeout=60,
                              json=chat_ok(messages=user(f"burst {i}"), max_tokens=32, temperature=0))
            assert r.status_code == 200, r.status_code
            with lock:
                ok[0] += 1
        except Exception as e:  # noqa: BLE001 (collected and reported)
            with lock:
                failures.append(repr(e)[:200])

    for _ in range(rounds):
        barrier = threading.Barrier(n)
        threads = [threading.Thread(target=client, args=(barrier, i)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not failures, f"{len(failures)} of {n * rounds} requests failed, e.g. {failures[:3]}"
    assert ok[0] == n * rounds


def test_client_disconnect_frees_the_sequence(start_server):
    s = start_server("--parallel", "2")
    body = json.dumps(chat_ok(messages=user("Write forever."), max_tokens=2000, stream=True,
                              logit_bias=NO_EOS)).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while b"data:" not in got:
        piece = sock.recv(4096)
        assert piece, got
        got += piece
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    generated_before_close = s.metric("exaone_generated_tokens_total")
    sock.close()
    assert wait_until(lambda: s.metric("exaone_running_sequences") == 0, timeout=5), \
        "exaone_running_sequences did not return to 0 within 5 s of the client leaving"
    generated = s.metric("exaone_generated_tokens_total")
    assert generated < 2000 or generated_before_close >= 2000, \
        f"the sequence ran to max_tokens after the client left ({generated} tokens)"
    # The server still answers.
    assert requests.post(s.base_url + CHAT, json=chat_ok(), timeout=30).status_code == 200


# ---------------------------------------------------------------------------------------------- metrics, tokenizer

METRIC_NAMES = [
    "exaone_requests_total", "exaone_prompt_tokens_total", "exaone_generated_tokens_total",
    "exaone_queue_length", "exaone_running_sequences", "exaone_kv_cache_bytes",
    "exaone_prefix_cache_hit_tokens_total",
]
HISTOGRAMS = ["exaone_time_to_first_token_seconds", "exaone_inter_token_latency_seconds"]


def test_metrics(server):
    before = server.metric("exaone_generated_tokens_total")
    r = post(server.base_url, CHAT, chat_ok(max_tokens=6, logit_bias=NO_EOS, temperature=0))
    assert r.status_code == 200
    text = requests.get(server.base_url + "/metrics", timeout=10)
    assert text.status_code == 200
    assert text.headers["Content-Type"].startswith("text/plain")
    m = parse_metrics(text.text)
    names = {n for n, _ in m}
    for name in METRIC_NAMES:
        assert name in names, f"{name} missing from /metrics"
    for name in HISTOGRAMS:
        for suffix in ("_bucket", "_sum", "_count"):
            assert name + suffix in names, f"{name}{suffix} missing from /metrics"
        buckets = sorted(((dict(ls)["le"], v) for (n, ls), v in m.items() if n == name + "_bucket"),
                         key=lambda b: float(b[0].replace("+Inf", "inf")))
        assert buckets and buckets[-1][0] == "+Inf"
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{name} buckets are not cumulative"
    assert re.search(r"^# TYPE exaone_time_to_first_token_seconds histogram$", text.text, re.M)
    ok = [(dict(ls), v) for (n, ls), v in m.items() if n == "exaone_requests_total"]
    assert any(ls.get("status") == "200" and "endpoint" in ls and v >= 1 for ls, v in ok), ok
    assert server.metric("exaone_generated_tokens_total") >= before + 6
    assert server.metric("exaone_prompt_tokens_total") > 0


def test_tokenize_detokenize_roundtrip(base_url):
    text = "Hello, 세계! 안녕하세요 <think> tabs\tand\nnewlines 🙂"
    r = post(base_url, "/tokenize", {"content": text, "add_special": False})
    assert r.status_code == 200, r.text
    ids = r.json()["tokens"]
    assert ids and all(isinstance(i, int) for i in ids)
    back = post(base_url, "/detokenize", {"tokens": ids})
    assert back.status_code == 200, back.text
    assert back.json()["content"] == text
    with_special = post(base_url, "/tokenize", {"content": text, "add_special": True}).json()["tokens"]
    assert len(with_special) >= len(ids)
    assert with_special[len(with_special) - len(ids):] == ids


def test_apply_template_matches_usage(base_url):
    messages = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "안녕?"}]
    r = post(base_url, "/apply-template", {"messages": messages})
    assert r.status_code == 200, r.text
    prompt = r.json()["prompt"]
    assert "[|user|]" in prompt and "안녕?" in prompt and "Be nice." in prompt
    assert "[|assistant|]" in prompt[-40:], prompt  # the generation prompt
    plain = post(base_url, "/tokenize", {"content": prompt, "add_special": False}).json()["tokens"]
    special = post(base_url, "/tokenize", {"content": prompt, "add_special": True}).json()["tokens"]
    usage = post(base_url, CHAT, chat_ok(messages=messages, max_tokens=1)).json()["usage"]
    assert usage["prompt_tokens"] in (len(plain), len(special)), (usage, len(plain), len(special))
    thinking = post(base_url, "/apply-template",
                    {"messages": messages, "chat_template_kwargs": {"enable_thinking": True}}).json()["prompt"]
    assert thinking.endswith("<think>\n") and thinking != prompt


def test_shutdown_is_clean_while_streaming(start_server):
    """SIGTERM while a stream is running still exits with code 0 (asserted by the fixture) and quickly."""
    s = start_server("--parallel", "1")
    r = requests.post(s.base_url + CHAT, json=chat_ok(max_tokens=2000, stream=True, logit_bias=NO_EOS),
                      stream=True, timeout=60)
    assert r.status_code == 200
    next(r.iter_lines())
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 10
    r.close()


def test_sigint_exits_cleanly(start_server):
    s = start_server()
    assert requests.post(s.base_url + CHAT, json=chat_ok(), timeout=30).status_code == 200
    s.stop(signal.SIGINT)


def test_context_and_kv_type_flags(start_server):
    s = start_server("--ctx", "256", "--kv-type", "f16", "--parallel", "2")
    e = check_error(post(s.base_url, CHAT, chat_ok(messages=user("word " * 400))), 400)
    numbers = [int(x) for x in re.findall(r"\d+", e["message"])]
    assert 256 in numbers and any(n > 256 for n in numbers), e["message"]
    r = post(s.base_url, CHAT, chat_ok(messages=user("Hello"), max_tokens=300, logit_bias=NO_EOS, temperature=0))
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:  # generation stops at the end of the context
        j = r.json()
        assert j["choices"][0]["finish_reason"] == "length"
        assert j["usage"]["prompt_tokens"] + j["usage"]["completion_tokens"] <= 256
