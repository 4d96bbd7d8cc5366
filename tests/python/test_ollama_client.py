"""`exaone serve`'s Ollama-compatible API through the official `ollama` Python client."""

import json

import ollama
import pytest
import requests

from helpers import MODEL_NAME, post, user

GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def client(base_url):
    return ollama.Client(host=base_url, timeout=120)


def names_match(name):
    return name in (MODEL_NAME, MODEL_NAME + ":latest")


def test_chat(client):
    r = client.chat(model=MODEL_NAME, messages=[{"role": "system", "content": "Be brief."}] + user("Hello!"),
                    options={"num_predict": 16, **GREEDY})
    assert names_match(r.model)
    assert r.message.role == "assistant"
    assert isinstance(r.message.content, str)
    assert r.done is True
    assert r.done_reason in ("stop", "length")
    assert r.prompt_eval_count > 0
    assert 0 <= r.eval_count <= 16


def test_chat_streaming_matches(client):
    kw = dict(model=MODEL_NAME, messages=user("Tell me about rivers."), options={"num_predict": 32, **GREEDY})
    ref = client.chat(**kw)
    parts = list(client.chat(stream=True, **kw))
    assert len(parts) >= 2
    assert all(p.done is False for p in parts[:-1])
    last = parts[-1]
    assert last.done is True and last.done_reason == ref.done_reason
    assert "".join(p.message.content or "" for p in parts) == ref.message.content
    assert last.eval_count == ref.eval_count and last.prompt_eval_count == ref.prompt_eval_count


def test_chat_same_as_openai_endpoint(client, base_url):
    """Greedy /api/chat and /v1/chat/completions give the same text for the same conversation."""
    messages = user("Describe a mountain.")
    a = client.chat(model=MODEL_NAME, messages=messages, options={"num_predict": 20, **GREEDY})
    b = post(base_url, "/v1/chat/completions",
             {"model": MODEL_NAME, "messages": messages, "max_tokens": 20, "temperature": 0}).json()
    assert a.message.content == b["choices"][0]["message"]["content"]
    assert a.eval_count == b["usage"]["completion_tokens"]


def test_generate(client):
    kw = dict(model=MODEL_NAME, prompt="The weather today is", options={"num_predict": 24, **GREEDY})
    r = client.generate(**kw)
    assert names_match(r.model)
    assert isinstance(r.response, str)
    assert r.done is True and r.done_reason in ("stop", "length")
    assert 0 <= r.eval_count <= 24
    parts = list(client.generate(stream=True, **kw))
    assert parts[-1].done is True
    assert all(p.done is False for p in parts[:-1])
    assert "".join(p.response or "" for p in parts) == r.response


def test_generate_raw_stream_is_ndjson(base_url):
    r = post(base_url, "/api/generate", {"model": MODEL_NAME, "prompt": "Hi", "options": {"num_predict": 6}},
             stream=True)
    assert r.status_code == 200
    assert "ndjson" in r.headers.get("Content-Type", "") or "json" in r.headers.get("Content-Type", "")
    lines = [json.loads(line) for line in r.iter_lines() if line.strip()]
    assert lines and lines[-1]["done"] is True
    assert all(line["done"] is False for line in lines[:-1])


def test_options_num_predict(client):
    r = client.chat(model=MODEL_NAME, messages=user("Write a long essay."), options={"num_predict": 5, **GREEDY})
    assert r.eval_count <= 5
    if r.eval_count == 5:
        assert r.done_reason == "length"


def test_options_seed(client):
    kw = dict(model=MODEL_NAME, messages=user("Random words please."),
              options={"num_predict": 24, "temperature": 1.0, "seed": 42})
    assert client.chat(**kw).message.content == client.chat(**kw).message.content


def test_options_greedy_deterministic(client):
    kw = dict(model=MODEL_NAME, messages=user("Say something."), options={"num_predict": 24, **GREEDY})
    assert client.chat(**kw).message.content == client.chat(**kw).message.content


def test_options_stop(client):
    prompt = "Write a list of animals."
    text = client.generate(model=MODEL_NAME, prompt=prompt, options={"num_predict": 48, **GREEDY}).response
    stop = None
    for i in range(6, len(text) - 3):
        s = text[i:i + 3]
        if "\ufffd" not in s and s.strip() == s and s.strip():
            stop = s
            break
    if stop is None:
        pytest.skip(f"reference output too short for a stop string: {text!r}")
    r = client.generate(model=MODEL_NAME, prompt=prompt, options={"num_predict": 48, "stop": [stop], **GREEDY})
    assert r.response == text[:text.index(stop)]
    assert r.done_reason == "stop"


def test_options_other_fields_accepted(client):
    r = client.chat(model=MODEL_NAME, messages=user("Hi"),
                    options={"num_predict": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "seed": 1,
                             "num_ctx": 1024, "repeat_penalty": 1.1, "presence_penalty": 0.2,
                             "frequency_penalty": 0.2, "min_p": 0.05})
    assert r.done is True


def test_think(client):
    r = client.chat(model=MODEL_NAME, messages=user("Why is the sky blue?"), think=True,
                    options={"num_predict": 24, **GREEDY})
    assert isinstance(r.message.thinking, str) and r.message.thinking
    assert "<think>" not in (r.message.content or "")
    parts = list(client.chat(model=MODEL_NAME, messages=user("Why is the sky blue?"), think=True, stream=True,
                             options={"num_predict": 24, **GREEDY}))
    assert "".join(p.message.thinking or "" for p in parts) == r.message.thinking
    off = client.chat(model=MODEL_NAME, messages=user("Why is the sky blue?"), think=False,
                      options={"num_predict": 12, **GREEDY})
    assert not off.message.thinking


def test_tools(client):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    r = client.chat(model=MODEL_NAME, messages=user("Weather in Busan?"), tools=tools,
                    options={"num_predict": 64, **GREEDY})
    assert r.done is True
    for call in r.message.tool_calls or []:
        assert call.function.name == "get_weather"
        assert isinstance(call.function.arguments, dict)


def test_tags(client):
    models = client.list().models
    assert any(names_match(m.model) for m in models), [m.model for m in models]


def test_show(client):
    r = client.show(MODEL_NAME)
    assert r.details is not None
    assert r.modelinfo or r.template or r.details.family, r


def test_version(base_url):
    r = requests.get(base_url + "/api/version", timeout=10)
    assert r.status_code == 200
    assert isinstance(r.json()["version"], str) and r.json()["version"]
