"""Shared helpers of the end-to-end tests (raw HTTP, SSE parsing, tokens of the bundled tiny model)."""

import json
import os

import requests

from conftest import MODEL, MODEL_NAME  # noqa: F401  (re-exported)

EOS_IDS = [2, 8]  # [EOS], [|endofturn|]: banned with logit_bias where a test needs a run to reach max_tokens
NO_EOS = {str(i): -100 for i in EOS_IDS}

_vocab = None


def vocab():
    """token text (byte-level BPE alphabet) -> id, from the model's tokenizer.json."""
    global _vocab
    if _vocab is None:
        with open(os.path.join(MODEL, "tokenizer.json"), encoding="utf-8") as f:
            _vocab = json.load(f)["model"]["vocab"]
    return _vocab


def post(base_url, path, body, headers=None, stream=False, timeout=120):
    return requests.post(base_url + path, json=body, headers=headers or {}, stream=stream, timeout=timeout)


def sse_chunks(resp):
    """The JSON chunks of an SSE response, each event's bytes decoded strictly as UTF-8.

    Returns (chunks, saw_done). Fails when a data line follows `data: [DONE]` or is not valid UTF-8 JSON.
    """
    chunks, done = [], False
    for raw in resp.iter_lines(chunk_size=1, delimiter=b"\n"):
        line = raw.rstrip(b"\r")
        if not line or line.startswith(b":"):
            continue
        assert line.startswith(b"data:"), f"unexpected SSE line {line[:200]!r}"
        payload = line[5:].lstrip(b" ")
        assert not done, f"data after [DONE]: {payload[:200]!r}"
        if payload == b"[DONE]":
            done = True
            continue
        chunks.append(json.loads(payload.decode("utf-8")))  # strict: a split character would raise here
    return chunks, done


def chat_body(messages, **kw):
    body = {"model": MODEL_NAME, "messages": messages}
    body.update(kw)
    return body


def user(text):
    return [{"role": "user", "content": text}]
