// The chat page `exaone serve` answers on GET /: one self-contained HTML page (no external resources, no build
// step) that streams /v1/chat/completions. Tested by tests/python/test_web_page.py (headless Chromium).
#pragma once

namespace exaone::server {

inline constexpr const char kWebPage[] = R"EXAONE_PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>exaone.cpp</title>
<style>
  :root { --bg: #f6f7f9; --fg: #1d2430; --muted: #6b7483; --line: #dde1e7; --accent: #a50034;
          --user: #e8eef9; --card: #fff; --err: #b00020; }
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body { display: flex; flex-direction: column; background: var(--bg); color: var(--fg);
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic", sans-serif; }
  header { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; padding: 10px 16px;
           background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 17px; margin: 0; color: var(--accent); }
  header .model { color: var(--muted); font-size: 13px; }
  header .spacer { flex: 1; }
  header label { font-size: 13px; color: var(--muted); display: flex; align-items: center; gap: 4px; }
  header input[type=password] { width: 150px; font: inherit; font-size: 13px; padding: 3px 6px;
                                border: 1px solid var(--line); border-radius: 6px; }
  #messages { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 12px; }
  .msg { max-width: 820px; width: fit-content; padding: 10px 14px; border-radius: 12px;
         white-space: pre-wrap; overflow-wrap: anywhere; }
  .msg.user { align-self: flex-end; background: var(--user); }
  .msg.assistant { align-self: flex-start; background: var(--card); border: 1px solid var(--line); min-width: 120px; }
  .msg .role { font-size: 12px; color: var(--muted); margin-bottom: 2px; }
  .msg details { margin: 2px 0 6px; color: var(--muted); font-size: 13px; }
  .msg details summary { cursor: pointer; user-select: none; }
  .msg details .reasoning { border-left: 3px solid var(--line); padding-left: 8px; margin-top: 4px; }
  .msg .meta { font-size: 12px; color: var(--muted); margin-top: 4px; }
  .msg .error { color: var(--err); }
  .msg.pending .content:empty::after { content: "…"; color: var(--muted); }
  .empty { color: var(--muted); text-align: center; margin-top: 20vh; }
  footer { display: flex; gap: 8px; padding: 12px 16px; background: var(--card); border-top: 1px solid var(--line); }
  #input { flex: 1; resize: none; height: 64px; font: inherit; padding: 8px 10px;
           border: 1px solid var(--line); border-radius: 8px; }
  button { font: inherit; padding: 0 16px; border-radius: 8px; border: 1px solid var(--line);
           background: var(--card); cursor: pointer; }
  button:disabled { opacity: .45; cursor: default; }
  #send { background: var(--accent); color: #fff; border-color: var(--accent); }
</style>
</head>
<body>
<header>
  <h1>exaone.cpp</h1>
  <span class="model" id="model"></span>
  <span class="spacer"></span>
  <label title="chat_template_kwargs.enable_thinking"><input type="checkbox" id="think"> thinking</label>
  <label>API key <input type="password" id="apikey" placeholder="(none)" autocomplete="off"></label>
  <button id="reset" type="button">Reset</button>
</header>
<main id="messages"><div class="empty" id="empty">Type a message below. Enter sends, Shift+Enter adds a line.</div></main>
<footer>
  <textarea id="input" placeholder="Message" autofocus></textarea>
  <button id="send" type="button">Send</button>
  <button id="stop" type="button" disabled>Stop</button>
</footer>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const input = $("input"), sendBtn = $("send"), stopBtn = $("stop"), think = $("think"),
      keyField = $("apikey"), list = $("messages");
let history = [];          // the conversation sent with each request (assistant turns without reasoning)
let controller = null;     // AbortController of the request in flight
let modelName = null;
let epoch = 0;             // bumped by Reset: a request from an earlier conversation leaves history alone

keyField.value = localStorage.getItem("exaone.apiKey") || "";
think.checked = localStorage.getItem("exaone.think") === "1";
keyField.addEventListener("change", () => { localStorage.setItem("exaone.apiKey", keyField.value.trim()); modelName = null; loadModel(); });
think.addEventListener("change", () => localStorage.setItem("exaone.think", think.checked ? "1" : "0"));

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = keyField.value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function loadModel() {
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    if (!res.ok) return;
    const body = await res.json();
    if (body.data && body.data.length) { modelName = body.data[0].id; $("model").textContent = modelName; }
  } catch (e) { /* the server may be starting; the next send retries */ }
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function scrollDown() { list.scrollTop = list.scrollHeight; }

function addMessage(role, text) {
  const empty = $("empty");
  if (empty) empty.remove();
  const m = el("div", "msg " + role);
  m.appendChild(el("div", "role", role === "user" ? "You" : "Assistant"));
  const content = el("div", "content", text || "");
  m.appendChild(content);
  list.appendChild(m);
  scrollDown();
  return { m, content };
}

function setBusy(busy) {
  sendBtn.disabled = busy;
  stopBtn.disabled = !busy;
}

function errorText(status, raw) {
  try {
    const j = JSON.parse(raw);
    if (j.error) return typeof j.error === "string" ? j.error : (j.error.message || JSON.stringify(j.error));
  } catch (e) { /* not JSON */ }
  return "HTTP " + status + (raw ? ": " + raw.slice(0, 300) : "");
}

async function send() {
  const text = input.value.trim();
  if (!text || controller) return;
  const myEpoch = epoch;
  input.value = "";
  addMessage("user", text);
  history.push({ role: "user", content: text });

  const a = addMessage("assistant");
  a.m.classList.add("pending");
  let details = null, reasoningEl = null, reasoning = "", answer = "", toolText = "", usage = null;
  const started = performance.now();
  controller = new AbortController();
  setBusy(true);

  // Deltas only update these strings; the page is repainted at most once per frame (a long answer
  // streams thousands of deltas, and re-laying out the whole text for each one is quadratic).
  let frame = 0, folded = false;
  const paint = () => {
    frame = 0;
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (reasoning && !details) {
      details = el("details"); details.open = true;
      details.appendChild(el("summary", null, "Thinking"));
      reasoningEl = el("div", "reasoning");
      details.appendChild(reasoningEl);
      a.m.insertBefore(details, a.content);
    }
    if (details) {
      reasoningEl.textContent = reasoning;
      if (answer && !folded) { details.open = false; folded = true; }  // folded once the answer starts
    }
    a.content.textContent = answer + toolText;
    if (follow) scrollDown();
  };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(paint); };

  let failed = false;
  try {
    if (!modelName) await loadModel();
    const body = { messages: history, stream: true, stream_options: { include_usage: true },
                   chat_template_kwargs: { enable_thinking: think.checked } };
    if (modelName) body.model = modelName;
    // A conversation longer than the context loses its oldest turns (the server says so with a 400
    // naming the context length); the notice stays in the page.
    let res, dropped = 0;
    for (;;) {
      res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(),
                                                  body: JSON.stringify(body), signal: controller.signal });
      if (res.ok) break;
      const text = await res.text();
      const next = history.findIndex((m, i) => i > 0 && m.role === "user");
      if (res.status === 400 && /context length/.test(text) && next > 0) {
        history.splice(0, next);
        dropped++;
        continue;
      }
      throw new Error(errorText(res.status, text));
    }
    if (dropped)
      a.m.insertBefore(el("div", "meta", "the oldest " + dropped + (dropped === 1 ? " turn was" : " turns were") +
                          " dropped to fit the context"), a.content);

    const reader = res.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buf = "", done = false;
    while (!done) {
      const { value, done: eof } = await reader.read();
      buf += eof ? decoder.decode() : decoder.decode(value, { stream: true });
      const events = buf.split(/\r?\n\r?\n/);
      buf = eof ? "" : events.pop();          // the last piece may be an incomplete event
      for (const ev of events) {
        const data = ev.split(/\r?\n/).filter((l) => l.startsWith("data:"))
                       .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (!data) continue;
        if (data === "[DONE]") { done = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (!delta) continue;
        if (delta.reasoning_content) reasoning += delta.reasoning_content;
        if (delta.content) answer += delta.content;
        for (const tc of delta.tool_calls || []) {
          const f = tc.function || {};
          toolText += (f.name ? "\n[tool call] " + f.name + " " : "") + (f.arguments || "");
        }
        schedule();
      }
      if (eof) break;
    }
  } catch (e) {
    if (e.name !== "AbortError") {
      failed = true;
      a.m.appendChild(el("div", "error", String(e.message || e)));
    }
  }

  if (frame) cancelAnimationFrame(frame);
  paint();
  a.m.classList.remove("pending");
  if (myEpoch !== epoch) {
    /* reset meanwhile */
  } else if (failed && !answer) {
    history.pop();                            // drop the unanswered turn so that the user can retry
  } else {
    history.push({ role: "assistant", content: answer });
  }
  const secs = (performance.now() - started) / 1000;
  if (controller && controller.signal.aborted) a.m.appendChild(el("div", "meta", "stopped"));
  else if (usage) a.m.appendChild(el("div", "meta", usage.completion_tokens + " tokens, " + secs.toFixed(1) + " s, " +
                                          (usage.completion_tokens / Math.max(secs, 1e-3)).toFixed(1) + " tok/s"));
  controller = null;
  setBusy(false);
  scrollDown();
  input.focus();
}

input.addEventListener("keydown", (e) => {
  // Never send while an IME composition (Korean, Japanese, ...) is active: Enter then commits the syllable.
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    send();
  }
});
sendBtn.addEventListener("click", send);
stopBtn.addEventListener("click", () => { if (controller) controller.abort(); });
$("reset").addEventListener("click", () => {
  if (controller) controller.abort();
  epoch++;
  history = [];
  list.replaceChildren(el("div", "empty", "New conversation."));
  list.firstChild.id = "empty";
  input.focus();
});
loadModel();
</script>
</body>
</html>
)EXAONE_PAGE";

}  // namespace exaone::server
