"""The chat page on GET / (src/server/web_page.h) in headless Chromium, driven by Selenium.

Needs Debian's `chromium` and `chromium-driver` packages; skipped when either is missing.
Set EXAONE_WEB_SCREENSHOT=/path.png to keep a screenshot of the page after an exchange.
"""

import os

import pytest
import requests

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 90

# Records the body of each /v1/chat/completions request the page makes, and sends it with window.__extra's
# fields added (max_tokens: the random model's answers otherwise run to the end of the context).
RECORD_FETCH = """
window.__bodies = [];
window.__extra = arguments[0];
const origFetch = window.fetch;
window.fetch = function (url, init) {
  if (String(url).includes('/chat/completions') && init && init.body) {
    const body = JSON.parse(init.body);
    window.__bodies.push(body);
    init = Object.assign({}, init, {body: JSON.stringify(Object.assign({}, body, window.__extra))});
  }
  return origFetch.call(this, url, init);
};
"""


@pytest.fixture(scope="module")
def driver():
    missing = [f"{what} ({path}, Debian package {pkg})" for what, path, pkg in
               [("chromium", CHROMIUM, "chromium"), ("chromedriver", CHROMEDRIVER, "chromium-driver")]
               if not os.access(path, os.X_OK)]
    if missing:
        pytest.skip("missing " + " and ".join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1000,760", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def wait(d, predicate, what, timeout=TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda _: predicate())
    except Exception as e:  # TimeoutException: say what was awaited and what the page shows
        log = d.find_element("id", "messages").get_attribute("innerText")
        raise AssertionError(f"timed out waiting for {what}; #messages shows: {log[:1000]!r}") from e


def by_id(d, id_):
    return d.find_element("id", id_)


def text_of(el):
    return el.get_attribute("textContent")


def open_page(d, url, max_tokens=64):
    d.get(url + "/")
    d.execute_script("localStorage.clear();")
    d.get(url + "/")
    d.execute_script(RECORD_FETCH, {"max_tokens": max_tokens} if max_tokens else {})
    for id_ in ("input", "send", "stop", "reset", "think", "messages"):
        by_id(d, id_)


def assistants(d):
    return d.find_elements("css selector", "#messages .assistant")


def send_and_wait(d, text, n_before, use_enter=False):
    from selenium.webdriver.common.keys import Keys
    box = by_id(d, "input")
    box.clear()
    box.send_keys(text)
    if use_enter:
        box.send_keys(Keys.ENTER)
    else:
        by_id(d, "send").click()
    wait(d, lambda: len(assistants(d)) == n_before + 1, "a new assistant message")
    wait(d, lambda: by_id(d, "send").is_enabled() and not by_id(d, "stop").is_enabled(), "#send to be re-enabled")
    msg = assistants(d)[-1]
    errors = msg.find_elements("css selector", ".error")
    assert not errors, f"the page shows an error: {text_of(errors[0])}"
    return msg


def test_page_served(base_url):
    r = requests.get(base_url + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<html" in r.text and 'id="messages"' in r.text
    assert "http://" not in r.text and "https://" not in r.text  # self-contained: no external resources


def test_korean_exchange(driver, base_url):
    d = driver
    open_page(d, base_url)
    question = "안녕하세요! 한국어로 자기소개를 해 주세요."
    msg = send_and_wait(d, question, 0)
    users = d.find_elements("css selector", "#messages .user")
    assert text_of(users[-1].find_element("css selector", ".content")) == question
    content = msg.find_element("css selector", ".content")
    wait(d, lambda: text_of(content).strip() != "", "non-empty .assistant .content")
    answer = text_of(content)
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["stream"] is True
    assert bodies[-1]["messages"] == [{"role": "user", "content": question}]
    assert bodies[-1]["chat_template_kwargs"]["enable_thinking"] is False
    # A second turn, sent with Enter, carries the whole conversation (the answer without reasoning).
    send_and_wait(d, "고마워요.", 1, use_enter=True)
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["messages"] == [{"role": "user", "content": question},
                                      {"role": "assistant", "content": answer},
                                      {"role": "user", "content": "고마워요."}]
    shot = os.environ.get("EXAONE_WEB_SCREENSHOT")
    if shot:
        d.save_screenshot(shot)


def test_enter_during_ime_composition_does_not_send(driver, base_url):
    d = driver
    open_page(d, base_url)
    by_id(d, "input").send_keys("한글")
    d.execute_script("""
      const box = document.getElementById('input');
      box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', isComposing: true, keyCode: 229, bubbles: true}));
    """)
    assert not d.find_elements("css selector", "#messages .user")
    assert by_id(d, "input").get_attribute("value") == "한글"
    d.execute_script("""
      const box = document.getElementById('input');
      box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', keyCode: 13, bubbles: true, cancelable: true}));
    """)
    wait(d, lambda: len(d.find_elements("css selector", "#messages .user")) == 1, "Enter to send")
    wait(d, lambda: by_id(d, "send").is_enabled(), "#send to be re-enabled")


def test_thinking_toggle_shows_reasoning(driver, base_url):
    d = driver
    open_page(d, base_url)
    by_id(d, "think").click()
    assert by_id(d, "think").is_selected()
    msg = send_and_wait(d, "Why is the sky blue?", 0)
    details = msg.find_elements("css selector", "details")
    assert details, "no reasoning <details> block"
    assert text_of(details[0].find_element("css selector", ".reasoning")).strip()
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["chat_template_kwargs"]["enable_thinking"] is True
    # The setting survives a reload (localStorage).
    d.refresh()
    d.execute_script(RECORD_FETCH, {})
    assert by_id(d, "think").is_selected()


def test_stop_and_reset(driver, base_url):
    d = driver
    open_page(d, base_url, max_tokens=None)  # the answer runs to the end of the context: time to press Stop
    box = by_id(d, "input")
    box.send_keys("Write a very long essay.")
    by_id(d, "send").click()
    wait(d, lambda: by_id(d, "stop").is_enabled() or by_id(d, "send").is_enabled(), "the request to start")
    if by_id(d, "stop").is_enabled():
        by_id(d, "stop").click()
    wait(d, lambda: by_id(d, "send").is_enabled() and not by_id(d, "stop").is_enabled(), "#send after Stop")
    assert not d.find_elements("css selector", "#messages .error")
    by_id(d, "reset").click()
    assert not d.find_elements("css selector", "#messages .msg")
    d.execute_script("window.__extra = {max_tokens: 64};")
    send_and_wait(d, "Hello again", 0)
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["messages"] == [{"role": "user", "content": "Hello again"}]


def test_api_key_and_error_display(driver, start_server):
    d = driver
    s = start_server("--api-key", "page-key")
    open_page(d, s.base_url)
    box = by_id(d, "input")
    box.send_keys("Hi")
    by_id(d, "send").click()
    wait(d, lambda: d.find_elements("css selector", "#messages .assistant .error"), "the 401 error to show")
    wait(d, lambda: by_id(d, "send").is_enabled(), "#send after the error")
    key = by_id(d, "apikey")
    key.send_keys("page-key")
    d.execute_script("document.getElementById('apikey').dispatchEvent(new Event('change'));")
    assert d.execute_script("return localStorage.getItem('exaone.apiKey');") == "page-key"
    send_and_wait(d, "Hi again", 1)
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["messages"] == [{"role": "user", "content": "Hi again"}]  # the failed turn was dropped


def test_long_conversation_drops_oldest_turns(driver, start_server):
    # A 256-token context: each turn of ~60 tokens plus a 64-token answer soon fills it; the page drops the
    # oldest turns, says so, and the conversation goes on.
    d = driver
    s = start_server("--ctx", "256")
    open_page(d, s.base_url, max_tokens=48)
    long_turn = "이것은 긴 메시지입니다. " * 6
    notices = []
    for i in range(5):
        msg = send_and_wait(d, f"{i}: {long_turn}", i)
        notices += [text_of(m) for m in msg.find_elements("css selector", ".meta") if "dropped" in text_of(m)]
    assert notices, "no turn was dropped in a conversation longer than the context"
    bodies = d.execute_script("return window.__bodies;")
    assert bodies[-1]["messages"][-1]["content"].startswith("4: ")
