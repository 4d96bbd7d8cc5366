"""`exaone serve` through the official OpenAI Python client (base_url .../v1).

The bundled model has random weights: answers are gibberish, but greedy decoding is deterministic, so the
tests compare runs with each other rather than with expected text.
"""

import json

import jsonschema
import openai
import pytest

from helpers import MODEL_NAME, NO_EOS, post, sse_chunks, user, vocab

GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def client(base_url):
    c = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


def chat(client, messages, **kw):
    return client.chat.completions.create(model=MODEL_NAME, messages=messages, **kw)


def extra(obj, name):
    """A field the OpenAI types do not declare (reasoning_content), or None."""
    value = getattr(obj, name, None)
    if value is None and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name)
    return value


def stream_text(stream):
    """Concatenated content / reasoning of a chat stream, its finish reasons, usage chunks and chunk count."""
    content, reasoning, finishes, usages, n = "", "", [], [], 0
    for chunk in stream:
        n += 1
        assert chunk.object == "chat.completion.chunk"
        assert chunk.model == MODEL_NAME
        if chunk.usage is not None:
            usages.append((n, chunk.usage, len(chunk.choices)))
        for choice in chunk.choices:
            assert choice.index == 0
            content += choice.delta.content or ""
            reasoning += extra(choice.delta, "reasoning_content") or ""
            if choice.finish_reason is not None:
                finishes.append(choice.finish_reason)
    return content, reasoning, finishes, usages, n


def test_models(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert MODEL_NAME in ids, ids
    m = next(m for m in models.data if m.id == MODEL_NAME)
    assert m.object == "model"


def test_chat_non_streaming(client):
    r = chat(client, [{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "Say hello."}], max_tokens=24, **GREEDY)
    assert r.object == "chat.completion"
    assert r.id and r.model == MODEL_NAME and r.created > 0
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant"
    assert isinstance(c.message.content, str)
    assert c.finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 0 and 0 <= u.completion_tokens <= 24
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    if c.finish_reason == "length":
        assert u.completion_tokens == 24


def test_chat_text_parts_and_history(client):
    """User content as a list of text parts, and a multi-turn history with an assistant turn."""
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}]
    r = chat(client, [{"role": "user", "content": parts},
                      {"role": "assistant", "content": "Hi."},
                      {"role": "user", "content": "How are you?"}], max_tokens=8, **GREEDY)
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5


def test_streaming_matches_non_streaming(client):
    messages = user("Write a short poem about the sea.")
    ref = chat(client, messages, max_tokens=40, **GREEDY)
    stream = chat(client, messages, max_tokens=40, stream=True, stream_options={"include_usage": True}, **GREEDY)
    content, reasoning, finishes, usages, n = stream_text(stream)
    assert content == (ref.choices[0].message.content or "")
    assert reasoning == (extra(ref.choices[0].message, "reasoning_content") or "")
    assert finishes == [ref.choices[0].finish_reason]
    # Usage comes exactly once, in the last chunk, with no choices.
    assert len(usages) == 1, usages
    at, usage, nchoices = usages[0]
    assert at == n and nchoices == 0
    assert usage.prompt_tokens == ref.usage.prompt_tokens
    assert usage.completion_tokens == ref.usage.completion_tokens
    assert usage.total_tokens == ref.usage.total_tokens


def test_streaming_without_usage(client):
    stream = chat(client, user("Count to five."), max_tokens=10, stream=True, **GREEDY)
    _, _, finishes, usages, _ = stream_text(stream)
    assert len(finishes) == 1
    assert usages == []


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_gives_length(client, field):
    r = chat(client, user("Tell me a long story."), logit_bias=NO_EOS, **{field: 7}, **GREEDY)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 7


def _reference_text(client, prompt, n=48):
    r = chat(client, user(prompt), max_tokens=n, logit_bias=NO_EOS, **GREEDY)
    assert r.choices[0].finish_reason == "length"
    return r.choices[0].message.content


def _pick_stop(text, start):
    """A 3-character substring of text at or after `start` without replacement characters or newlines."""
    for i in range(start, len(text) - 3):
        s = text[i:i + 3]
        if "\ufffd" not in s and s.strip() == s and s.strip():
            return s
    pytest.skip(f"no usable stop string in the reference output {text!r}")


def test_stop_strings(client):
    prompt = "List some colours."
    text = _reference_text(client, prompt)
    stop = _pick_stop(text, 8)
    cut = text.index(stop)
    r = chat(client, user(prompt), max_tokens=48, logit_bias=NO_EOS, stop=[stop, "@@never@@"], **GREEDY)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == text[:cut]
    # A single string works too, and streaming stops at the same place without leaking the stop text.
    stream = chat(client, user(prompt), max_tokens=48, logit_bias=NO_EOS, stop=stop, stream=True, **GREEDY)
    content, _, finishes, _, _ = stream_text(stream)
    assert content == text[:cut]
    assert finishes == ["stop"]


def test_seed_reproducible_at_temperature_1(client):
    kw = dict(max_tokens=32, temperature=1.0, logit_bias=NO_EOS)
    a = chat(client, user("Pick random words."), seed=1234, **kw).choices[0].message.content
    b = chat(client, user("Pick random words."), seed=1234, **kw).choices[0].message.content
    assert a == b
    others = {chat(client, user("Pick random words."), seed=s, **kw).choices[0].message.content for s in (1, 2, 3)}
    assert others - {a}, "different seeds all gave the same text at temperature 1"


def test_greedy_deterministic(client):
    kw = dict(max_tokens=32, logit_bias=NO_EOS)
    a = chat(client, user("What is the capital of France?"), **kw, **GREEDY).choices[0].message.content
    b = chat(client, user("What is the capital of France?"), **kw, **GREEDY).choices[0].message.content
    assert a == b
    # top_k 1 at temperature 1 is greedy too.
    c = chat(client, user("What is the capital of France?"), temperature=1.0, seed=7,
             extra_body={"top_k": 1}, **kw).choices[0].message.content
    assert c == a


def test_all_sampling_fields_accepted(client):
    r = chat(client, user("Hello"), max_tokens=12, temperature=0.8, top_p=0.9, seed=3,
             presence_penalty=0.5, frequency_penalty=0.5,
             extra_body={"top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1})
    assert r.choices[0].finish_reason in ("stop", "length")


def test_logprobs(client):
    r = chat(client, user("Name a fruit."), max_tokens=8, logprobs=True, top_logprobs=3, logit_bias=NO_EOS, **GREEDY)
    c = r.choices[0]
    assert c.logprobs is not None and c.logprobs.content is not None
    items = c.logprobs.content
    assert len(items) == r.usage.completion_tokens == 8
    raw = b""
    for it in items:
        assert isinstance(it.token, str)
        assert it.logprob <= 0.0
        assert it.bytes is not None and all(0 <= b < 256 for b in it.bytes)
        raw += bytes(it.bytes)
        assert len(it.top_logprobs) == 3
        lps = [t.logprob for t in it.top_logprobs]
        assert lps == sorted(lps, reverse=True)
        # Greedy: the chosen token is the most likely one.
        assert it.top_logprobs[0].token == it.token
        assert abs(it.top_logprobs[0].logprob - it.logprob) < 1e-4
    content = c.message.content
    if "\ufffd" not in content:
        assert raw.decode("utf-8") == content


def test_logprobs_without_alternatives(client):
    r = chat(client, user("Name a fruit."), max_tokens=4, logprobs=True, logit_bias=NO_EOS, **GREEDY)
    items = r.choices[0].logprobs.content
    assert len(items) == 4
    assert all(not it.top_logprobs for it in items)


def test_logit_bias_forces_a_token(client):
    the = vocab()["Ġthe"]  # " the"
    r = chat(client, user("Anything."), max_tokens=6, logit_bias={str(the): 100}, **GREEDY)
    assert r.choices[0].message.content == " the" * 6
    assert r.choices[0].finish_reason == "length"


def test_json_object(client):
    r = chat(client, [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Describe a cat."}],
             max_tokens=400, response_format={"type": "json_object"}, **GREEDY)
    text = r.choices[0].message.content
    assert text.lstrip().startswith("{"), text
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict), text


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "member": {"type": "boolean"},
        "colour": {"enum": ["red", "green", "blue"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    },
    "required": ["name", "age", "member", "colour", "tags"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema(client, stream):
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    kw = dict(max_tokens=400, response_format=rf, **GREEDY)
    if stream:
        text, _, finishes, _, _ = stream_text(chat(client, user("Invent a person."), stream=True, **kw))
        assert finishes == ["stop"]
    else:
        r = chat(client, user("Invent a person."), **kw)
        assert r.choices[0].finish_reason == "stop"
        text = r.choices[0].message.content
    obj = json.loads(text)
    jsonschema.validate(obj, PERSON)


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string", "minLength": 1, "maxLength": 20},
                                      "unit": {"enum": ["celsius", "fahrenheit"]}},
                       "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Current time in a time zone",
        "parameters": {"type": "object",
                       "properties": {"zone": {"type": "string", "maxLength": 16}},
                       "required": ["zone"], "additionalProperties": False}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Seoul, and what time is it there?"}]


def check_tool_calls(calls):
    assert calls, "no tool_calls"
    for call in calls:
        assert call.type == "function"
        assert call.id
        assert call.function.name in SCHEMAS, call.function.name
        assert isinstance(call.function.arguments, str)
        args = json.loads(call.function.arguments)
        jsonschema.validate(args, SCHEMAS[call.function.name])


def test_tool_choice_auto(client):
    r = chat(client, ASK, tools=TOOLS, tool_choice="auto", max_tokens=120, **GREEDY)
    c = r.choices[0]
    assert c.finish_reason in ("stop", "length", "tool_calls")
    if c.finish_reason == "tool_calls":
        check_tool_calls(c.message.tool_calls)
    else:
        assert isinstance(c.message.content, str)


def test_tool_choice_none(client):
    r = chat(client, ASK, tools=TOOLS, tool_choice="none", max_tokens=40, **GREEDY)
    c = r.choices[0]
    assert not c.message.tool_calls
    assert c.finish_reason in ("stop", "length")


def test_tool_choice_required(client):
    r = chat(client, ASK, tools=TOOLS, tool_choice="required", max_tokens=300, **GREEDY)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls"
    check_tool_calls(c.message.tool_calls)


def test_tool_choice_named(client):
    choice = {"type": "function", "function": {"name": "get_time"}}
    r = chat(client, ASK, tools=TOOLS, tool_choice=choice, max_tokens=300, **GREEDY)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls"
    check_tool_calls(c.message.tool_calls)
    assert {call.function.name for call in c.message.tool_calls} == {"get_time"}


def test_parallel_tool_calls_false(client):
    r = chat(client, ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False, max_tokens=300, **GREEDY)
    c = r.choices[0]
    assert c.finish_reason == "tool_calls"
    check_tool_calls(c.message.tool_calls)
    assert len(c.message.tool_calls) == 1


def test_tool_calls_streaming(client):
    kw = dict(tools=TOOLS, tool_choice="required", max_tokens=300, **GREEDY)
    ref = chat(client, ASK, **kw).choices[0].message.tool_calls
    calls, finishes = {}, []
    for chunk in chat(client, ASK, stream=True, **kw):
        for choice in chunk.choices:
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
    assert finishes == ["tool_calls"]
    got = [calls[i] for i in sorted(calls)]
    assert [(g["name"], json.loads(g["arguments"])) for g in got] == \
           [(c.function.name, json.loads(c.function.arguments)) for c in ref]
    assert all(g["id"] for g in got)


def test_tool_round_trip_history(client):
    """An assistant turn with tool_calls (and reasoning_content) followed by a tool result is accepted."""
    messages = ASK + [
        {"role": "assistant", "content": "", "reasoning_content": "The user wants the weather.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city": "Seoul", "unit": "celsius"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
    ]
    r = chat(client, messages, tools=TOOLS, max_tokens=16, **GREEDY)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert r.usage.prompt_tokens > 50


def test_reasoning_enabled(client):
    kw = dict(max_tokens=24, extra_body={"chat_template_kwargs": {"enable_thinking": True}}, **GREEDY)
    r = chat(client, user("Why is the sky blue?"), **kw)
    m = r.choices[0].message
    reasoning = extra(m, "reasoning_content")
    assert isinstance(reasoning, str) and reasoning, f"no reasoning_content: {m}"
    assert m.content is None or isinstance(m.content, str)
    assert "<think>" not in (m.content or "") and "</think>" not in reasoning
    # Streamed, the same reasoning arrives in reasoning_content deltas.
    content, s_reasoning, finishes, _, _ = stream_text(chat(client, user("Why is the sky blue?"), stream=True, **kw))
    assert s_reasoning == reasoning
    assert content == (m.content or "")
    assert len(finishes) == 1


def test_reasoning_disabled(client):
    r = chat(client, user("Why is the sky blue?"), max_tokens=16,
             extra_body={"chat_template_kwargs": {"enable_thinking": False}}, **GREEDY)
    assert not extra(r.choices[0].message, "reasoning_content")


def test_reasoning_effort_accepted(client):
    r = chat(client, user("Why is the sky blue?"), max_tokens=8, reasoning_effort="low", **GREEDY)
    assert r.choices[0].finish_reason in ("stop", "length")


def test_cached_tokens_on_repeated_prompt(client):
    long_text = " ".join(f"Item {i}: the quick brown fox jumps over the lazy dog." for i in range(60))
    messages = [{"role": "system", "content": long_text}, {"role": "user", "content": "Summarise."}]
    first = chat(client, messages, max_tokens=4, **GREEDY)
    assert first.usage.prompt_tokens > 500
    second = chat(client, messages, max_tokens=4, **GREEDY)
    details = second.usage.prompt_tokens_details
    assert details is not None and details.cached_tokens is not None
    assert details.cached_tokens > 0
    assert details.cached_tokens <= second.usage.prompt_tokens
    assert second.choices[0].message.content == first.choices[0].message.content


def test_completions(client):
    kw = dict(model=MODEL_NAME, prompt="Once upon a time", max_tokens=20, logit_bias=NO_EOS, **GREEDY)
    r = client.completions.create(**kw)
    assert r.object == "text_completion"
    assert len(r.choices) == 1
    assert isinstance(r.choices[0].text, str) and r.choices[0].text
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 20 and r.usage.prompt_tokens > 0
    text, finishes, usages = "", [], []
    for chunk in client.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        if chunk.usage is not None:
            usages.append(chunk.usage)
        for c in chunk.choices:
            text += c.text or ""
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert text == r.choices[0].text
    assert finishes == ["length"]
    assert len(usages) == 1 and usages[0].completion_tokens == 20


KOREAN = [{"role": "system", "content": "당신은 친절한 한국어 도우미입니다."},
          {"role": "user", "content": "안녕하세요! 서울의 날씨는 어떤가요? 짧게 한국어로 답해 주세요."}]


def test_korean_stream_is_valid_utf8(client, base_url):
    kw = dict(max_tokens=64, **GREEDY)
    ref = chat(client, KOREAN, **kw).choices[0].message.content
    # The official client decodes each event: a character cut between two events would fail here.
    content, _, _, _, _ = stream_text(chat(client, KOREAN, stream=True, **kw))
    assert content == ref
    # Raw events, each decoded strictly as UTF-8.
    r = post(base_url, "/v1/chat/completions", {"model": MODEL_NAME, "messages": KOREAN, "stream": True,
                                                 "max_tokens": 64, "temperature": 0}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    chunks, done = sse_chunks(r)
    assert done
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == ref


def test_korean_characters_split_across_tokens(client, base_url):
    """The answer is forced (json_schema const) to Korean text, with a bias toward tokens that end or start
    inside a character (EC 9E | 85 EB 8B 88 EB 8B A4 = 입|니다): every streamed piece is whole characters."""
    v = vocab()
    head, tail = v["ìŀ"], v["ħëĭĪëĭ¤"]  # bytes EC 9E, and 85 + "니다"
    answer = "입니다 입니다 한국어입니다"
    rf = {"type": "json_schema", "json_schema": {"name": "k", "schema": {"const": answer}}}
    body = {"model": MODEL_NAME, "messages": KOREAN, "max_tokens": 80, "temperature": 0,
            "response_format": rf, "logit_bias": {str(head): 50, str(tail): 50}}
    whole = post(base_url, "/v1/chat/completions", body)
    assert whole.status_code == 200, whole.text
    text = whole.json()["choices"][0]["message"]["content"]
    assert json.loads(text) == answer
    r = post(base_url, "/v1/chat/completions", dict(body, stream=True, logprobs=True), stream=True)
    assert r.status_code == 200, r.text
    chunks, done = sse_chunks(r)
    assert done
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert "".join(pieces) == text
    # The split really happened: some generated token is not whole UTF-8 on its own.
    token_bytes = [bytes(t["bytes"]) for c in chunks if c["choices"] and c["choices"][0].get("logprobs")
                   for t in c["choices"][0]["logprobs"]["content"] or []]
    assert token_bytes, "no logprobs in the stream"

    def whole_utf8(b):
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    assert not all(whole_utf8(b) for b in token_bytes), token_bytes
