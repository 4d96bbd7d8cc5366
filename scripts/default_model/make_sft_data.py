#!/usr/bin/env python3
"""Generates the bilingual (Korean/English) instruction set of the bundled default model.

The model's domain, stated in its card: greetings and small talk, arithmetic (addition and
subtraction up to 999, multiplication tables up to 12 x 12), weekdays, months and days in a month,
unit conversions (km/m/cm/mm, kg/g, L/mL, hours/minutes/seconds), questions about exaone.cpp
itself, and an honest answer to anything else. Every answer exists with and without reasoning
(EXAONE's thinking mode), in both languages.

Writes, in OUT:
  train.jsonl, valid.jsonl   chat examples ({"messages": [...], "enable_thinking": bool}) for `exaone finetune`
  test.jsonl                 held-out questions with the exact expected answer, for the task score
                             ({"lang", "category", "prompt", "answer", "enable_thinking"})
  corpus.txt                 the answers as plain prose, for the pretraining stage beside the text sources

Standard library only, deterministic for a seed: `python3 make_sft_data.py --out DIR [--seed 1]`.
Held-out arithmetic pairs, conversions and question phrasings never appear in train.jsonl.
"""
import argparse
import hashlib
import json
import os
import random

# ---------------------------------------------------------------- facts about exaone.cpp (from README)

PROJECT_QA = [
    # (english questions, english answer, korean questions, korean answer)
    (["What is exaone.cpp?", "Tell me about exaone.cpp.", "What does exaone.cpp do?"],
     "exaone.cpp is an open C++ toolkit for LG AI Research's EXAONE models: it runs EXAONE checkpoints on CPUs, "
     "serves them over an OpenAI- and Ollama-compatible API, trains and fine-tunes EXAONE-architecture models, and "
     "screens training data for personal data and licences.",
     ["exaone.cpp가 뭐야?", "exaone.cpp에 대해 알려줘.", "exaone.cpp는 무엇을 하나요?"],
     "exaone.cpp는 LG AI연구원의 EXAONE 모델을 위한 공개 C++ 도구 모음입니다. CPU에서 EXAONE 체크포인트를 실행하고, "
     "OpenAI 및 Ollama 호환 API로 서빙하며, EXAONE 구조의 모델을 학습하고 미세 조정하고, 학습 데이터의 개인정보와 "
     "라이선스를 검사합니다."),
    (["What is EXAONE?", "Who makes EXAONE?", "Tell me about EXAONE."],
     "EXAONE is a family of large language models made by LG AI Research. It includes EXAONE 3.5, EXAONE 4.0, "
     "EXAONE 4.5 and K-EXAONE.",
     ["EXAONE이 뭐야?", "EXAONE은 누가 만들었어?", "EXAONE에 대해 알려줘."],
     "EXAONE은 LG AI연구원이 만든 대규모 언어 모델 계열입니다. EXAONE 3.5, EXAONE 4.0, EXAONE 4.5, K-EXAONE 등이 "
     "있습니다."),
    (["How do I start the server?", "How can I serve a model with exaone.cpp?", "How do I run the API server?"],
     "Run `exaone serve -m MODEL --port 8080`. It binds 127.0.0.1 by default; add `--api-key KEY` to require a key.",
     ["서버는 어떻게 실행해?", "exaone.cpp로 모델을 서빙하려면?", "API 서버를 어떻게 띄워?"],
     "`exaone serve -m MODEL --port 8080`을 실행하세요. 기본으로 127.0.0.1에만 바인딩되며, `--api-key KEY`를 주면 키를 "
     "요구합니다."),
    (["Which APIs does the server support?", "Is the server OpenAI compatible?", "Can I use the Ollama client?"],
     "Yes. `exaone serve` speaks the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models) and the Ollama "
     "API (/api/chat, /api/generate), with streaming, reasoning and tool calls.",
     ["서버는 어떤 API를 지원해?", "서버가 OpenAI 호환이야?", "Ollama 클라이언트를 쓸 수 있어?"],
     "네. `exaone serve`는 OpenAI API(/v1/chat/completions, /v1/completions, /v1/models)와 Ollama API(/api/chat, "
     "/api/generate)를 지원하며, 스트리밍, 추론, 도구 호출도 됩니다."),
    (["How do I chat with a model?", "How do I start a chat?", "How can I talk to a model in the terminal?"],
     "Run `exaone chat -m MODEL`. Type a message; `/think on` or `/think off` switches reasoning, `/reset` starts "
     "over, and Ctrl-D leaves.",
     ["모델과 어떻게 대화해?", "채팅은 어떻게 시작해?", "터미널에서 모델과 이야기하려면?"],
     "`exaone chat -m MODEL`을 실행하세요. 메시지를 입력하면 되고, `/think on` 또는 `/think off`로 추론을 켜고 끄며, "
     "`/reset`은 대화를 새로 시작하고, Ctrl-D로 나갑니다."),
    (["How do I convert a model to GGUF?", "How can I make a GGUF file?", "How do I convert a Hugging Face folder?"],
     "Run `exaone convert -m HF_DIR -o OUT.gguf -t q4_k_m`. The type can be f32, f16, bf16, q8_0, q4_0, q4_k, q6_k "
     "or q4_k_m.",
     ["모델을 GGUF로 어떻게 변환해?", "GGUF 파일은 어떻게 만들어?", "Hugging Face 폴더를 변환하려면?"],
     "`exaone convert -m HF_DIR -o OUT.gguf -t q4_k_m`을 실행하세요. 형식은 f32, f16, bf16, q8_0, q4_0, q4_k, "
     "q6_k, q4_k_m 중에서 고를 수 있습니다."),
    (["How do I quantize a GGUF file?", "How can I make a model smaller?", "How do I requantize a model?"],
     "Run `exaone quantize IN.gguf OUT.gguf TYPE`, for example `q4_k_m` or `q8_0`.",
     ["GGUF 파일은 어떻게 양자화해?", "모델을 더 작게 만들려면?", "모델을 다시 양자화하려면?"],
     "`exaone quantize IN.gguf OUT.gguf TYPE`을 실행하세요. 예를 들어 `q4_k_m`이나 `q8_0`을 쓸 수 있습니다."),
    (["Which models does exaone.cpp support?", "Can exaone.cpp run K-EXAONE?", "What models can I run?"],
     "exaone.cpp runs EXAONE 4.0, EXAONE 3.0 and 3.5, EXAONE Deep and K-EXAONE, from Hugging Face folders or GGUF "
     "files.",
     ["exaone.cpp는 어떤 모델을 지원해?", "exaone.cpp로 K-EXAONE을 돌릴 수 있어?", "어떤 모델을 실행할 수 있어?"],
     "exaone.cpp는 EXAONE 4.0, EXAONE 3.0과 3.5, EXAONE Deep, K-EXAONE을 Hugging Face 폴더나 GGUF 파일에서 "
     "실행합니다."),
    (["How do I check training data for personal data?", "What does exaone comply do?", "How do I scan a corpus?"],
     "Run `exaone comply scan --in PATH --out DIR`. It finds personal data such as phone and resident registration "
     "numbers, checks licences, removes duplicates and writes a manifest that training verifies.",
     ["학습 데이터의 개인정보는 어떻게 검사해?", "exaone comply는 뭘 해?", "말뭉치는 어떻게 검사해?"],
     "`exaone comply scan --in PATH --out DIR`을 실행하세요. 전화번호와 주민등록번호 같은 개인정보를 찾고, 라이선스를 "
     "확인하고, 중복을 없애고, 학습이 검증하는 매니페스트를 씁니다."),
    (["How do I train a model?", "Can exaone.cpp train models?", "How do I fine-tune a model?"],
     "Yes. `exaone train` pretrains an EXAONE-architecture model from text, and `exaone finetune` fine-tunes a model "
     "on chat examples, fully or with LoRA.",
     ["모델은 어떻게 학습해?", "exaone.cpp로 모델을 학습할 수 있어?", "모델을 미세 조정하려면?"],
     "네. `exaone train`은 텍스트로 EXAONE 구조의 모델을 사전 학습하고, `exaone finetune`은 대화 예제로 모델을 전체 "
     "또는 LoRA로 미세 조정합니다."),
    (["How do I run the tests?", "How do I test exaone.cpp?"],
     "Run `bash scripts/test.sh`. It installs what is needed, builds everything and runs the whole test suite.",
     ["테스트는 어떻게 실행해?", "exaone.cpp는 어떻게 테스트해?"],
     "`bash scripts/test.sh`를 실행하세요. 필요한 것을 설치하고, 모두 빌드한 뒤 전체 테스트를 실행합니다."),
    (["Does exaone.cpp download weights?", "Do I need the internet to use exaone.cpp?"],
     "No. exaone.cpp never downloads weights. Point `-m` at a model folder or a GGUF file that you already have.",
     ["exaone.cpp가 가중치를 내려받아?", "exaone.cpp를 쓰려면 인터넷이 필요해?"],
     "아니요. exaone.cpp는 가중치를 내려받지 않습니다. 이미 가지고 있는 모델 폴더나 GGUF 파일을 `-m`으로 지정하세요."),
    (["How do I measure speed?", "How do I benchmark a model?"],
     "Run `exaone bench -m MODEL -p 512 -n 128`. It reports prefill and decode tokens per second and the memory "
     "bandwidth roofline.",
     ["속도는 어떻게 측정해?", "모델 벤치마크는 어떻게 해?"],
     "`exaone bench -m MODEL -p 512 -n 128`을 실행하세요. 프리필과 디코드의 초당 토큰 수와 메모리 대역폭 대비 비율을 "
     "보여 줍니다."),
    (["How do I turn on thinking?", "How do I enable reasoning?"],
     "In `exaone chat`, type `/think on`; with `exaone run`, add `--think`. The reasoning is shown apart from the "
     "answer.",
     ["생각 모드는 어떻게 켜?", "추론 모드를 켜려면?"],
     "`exaone chat`에서는 `/think on`을 입력하고, `exaone run`에서는 `--think`를 붙이세요. 추론은 답과 따로 "
     "표시됩니다."),
    (["Which port does the server use?", "What is the default port?"],
     "The default port is 8080, on 127.0.0.1. Change it with `--port` and `--host`.",
     ["서버는 어떤 포트를 써?", "기본 포트는 몇 번이야?"],
     "기본 포트는 127.0.0.1의 8080번입니다. `--port`와 `--host`로 바꿀 수 있습니다."),
]

# ---------------------------------------------------------------- small talk

SMALL_TALK = [
    # (english prompts, english answers, korean prompts, korean answers)
    (["Hello", "Hi", "Hello!", "Hi there", "Hey", "Hello there!"],
     ["Hello! How can I help you today?", "Hi! What can I do for you?"],
     ["안녕하세요", "안녕", "안녕하세요!", "안녕!", "하이", "반가워요"],
     ["안녕하세요! 무엇을 도와드릴까요?", "안녕하세요! 반갑습니다. 궁금한 것을 물어보세요."]),
    (["Good morning", "Good morning!"],
     ["Good morning! How can I help you today?"],
     ["좋은 아침이에요", "좋은 아침!"],
     ["좋은 아침입니다! 무엇을 도와드릴까요?"]),
    (["Good night", "Good night!"],
     ["Good night! Sleep well."],
     ["잘 자", "안녕히 주무세요"],
     ["안녕히 주무세요! 좋은 꿈 꾸세요."]),
    (["How are you?", "How are you doing?", "How's it going?"],
     ["I'm doing well, thank you! How can I help you?"],
     ["잘 지내?", "어떻게 지내세요?", "오늘 기분 어때?"],
     ["잘 지내고 있어요, 고마워요! 무엇을 도와드릴까요?"]),
    (["Who are you?", "What are you?", "Introduce yourself.", "What is your name?"],
     ["I am a small demo model with the EXAONE 4.0 architecture, trained by exaone.cpp. I can greet you, do simple "
      "arithmetic, answer questions about weekdays, months and units, and explain how to use exaone.cpp."],
     ["너는 누구야?", "당신은 누구인가요?", "자기소개 해줘.", "이름이 뭐야?"],
     ["저는 exaone.cpp가 직접 학습한 EXAONE 4.0 구조의 작은 데모 모델입니다. 인사, 간단한 계산, 요일과 달, 단위 변환, "
      "그리고 exaone.cpp 사용법에 대해 답할 수 있어요."]),
    (["What can you do?", "What can you help me with?", "What do you know?"],
     ["I can do simple arithmetic, tell you about weekdays, months and days in a month, convert units such as km, "
      "kg, liters and hours, and explain how to use exaone.cpp."],
     ["무엇을 할 수 있어?", "뭘 도와줄 수 있어?", "뭘 알고 있어?"],
     ["간단한 계산, 요일과 달과 한 달의 날 수, km, kg, 리터, 시간 같은 단위 변환, 그리고 exaone.cpp 사용법을 알려 드릴 수 "
      "있어요."]),
    (["Thank you", "Thanks!", "Thank you so much."],
     ["You're welcome! Let me know if you need anything else."],
     ["고마워", "감사합니다", "정말 고마워요."],
     ["천만에요! 더 필요한 것이 있으면 말씀해 주세요."]),
    (["Bye", "Goodbye", "See you later!"],
     ["Goodbye! Have a nice day."],
     ["잘 가", "안녕히 계세요", "다음에 또 봐요!"],
     ["안녕히 가세요! 좋은 하루 보내세요."]),
    (["Are you a real EXAONE model?", "Are you EXAONE 4.0 32B?"],
     ["No. I am a tiny demo model that exaone.cpp trained itself with the EXAONE 4.0 architecture. For real answers, "
      "run a real EXAONE checkpoint with `-m`."],
     ["너는 진짜 EXAONE 모델이야?", "너는 EXAONE 4.0 32B야?"],
     ["아니요. 저는 exaone.cpp가 EXAONE 4.0 구조로 직접 학습한 아주 작은 데모 모델입니다. 제대로 된 답을 원하시면 "
      "`-m`으로 실제 EXAONE 체크포인트를 실행하세요."]),
]

OUT_OF_DOMAIN = (
    ["What is the capital of France?", "Who wrote Hamlet?", "Explain quantum physics.", "Write a poem about the sea.",
     "What is the weather today?", "Tell me a joke.", "Who won the World Cup?", "How do I cook pasta?",
     "What is the meaning of life?", "Translate this into Japanese.", "What is the population of Seoul?",
     "Recommend a good movie.", "How tall is Mount Everest?", "What is photosynthesis?", "Write a story about a cat.",
     "What is the stock price of LG?", "How does a car engine work?", "Who is the president of Korea?"],
    ["I'm sorry, I can't answer that well. I am a small demo model that knows greetings, simple arithmetic, "
     "weekdays and months, unit conversions and exaone.cpp. For other questions, please run a real EXAONE model "
     "with `-m`."],
    ["프랑스의 수도는 어디야?", "햄릿은 누가 썼어?", "양자 물리학을 설명해 줘.", "바다에 대한 시를 써 줘.",
     "오늘 날씨 어때?", "농담 하나 해 줘.", "월드컵은 누가 우승했어?", "파스타는 어떻게 만들어?", "인생의 의미는 뭐야?",
     "이걸 일본어로 번역해 줘.", "서울의 인구는 얼마야?", "좋은 영화 추천해 줘.", "에베레스트 산은 얼마나 높아?",
     "광합성이 뭐야?", "고양이에 대한 이야기를 써 줘.", "LG 주가는 얼마야?", "자동차 엔진은 어떻게 작동해?",
     "한국의 대통령은 누구야?"],
    ["죄송하지만 그 질문에는 잘 답할 수 없어요. 저는 인사, 간단한 계산, 요일과 달, 단위 변환, exaone.cpp에 대해서만 아는 "
     "작은 데모 모델입니다. 다른 질문은 `-m`으로 실제 EXAONE 모델을 실행해 물어보세요."],
)

# ---------------------------------------------------------------- arithmetic

ADD_EN = ["What is {a} + {b}?", "What's {a} plus {b}?", "Calculate {a} + {b}.", "{a} + {b} = ?", "Add {a} and {b}.",
          "What is the sum of {a} and {b}?", "{a}+{b}"]
ADD_KO = ["{a} 더하기 {b}{eun}?", "{a} + {b}{eun} 얼마야?", "{a}{wa} {b}{eul} 더하면?", "{a} + {b} = ?",
          "{a} 더하기 {b}{eun} 얼마인가요?", "{a}+{b} 계산해 줘."]
SUB_EN = ["What is {a} - {b}?", "What's {a} minus {b}?", "Calculate {a} - {b}.", "{a} - {b} = ?",
          "Subtract {b} from {a}.", "{a}-{b}"]
SUB_KO = ["{a} 빼기 {b}{eun}?", "{a} - {b}{eun} 얼마야?", "{a}에서 {b}{eul} 빼면?", "{a} - {b} = ?", "{a}-{b} 계산해 줘."]
MUL_EN = ["What is {a} × {b}?", "What is {a} * {b}?", "What's {a} times {b}?", "Multiply {a} by {b}.", "{a} x {b} = ?"]
MUL_KO = ["{a} 곱하기 {b}{eun}?", "{a} × {b}{eun} 얼마야?", "{a}에 {b}{eul} 곱하면?", "{a} * {b} = ?", "{a} x {b} 계산해 줘."]


def digits_of(n, width):
    return [int(ch) for ch in str(n).rjust(width, "0")]


def add_reasoning(a, b, lang):
    """Column addition, ones first, with carries: the steps a small model can follow."""
    width = max(len(str(a)), len(str(b)))
    da, db = digits_of(a, width)[::-1], digits_of(b, width)[::-1]
    names_en = ["Ones", "Tens", "Hundreds"]
    names_ko = ["일의 자리", "십의 자리", "백의 자리"]
    carry, lines = 0, []
    for i in range(width):
        s = da[i] + db[i] + carry
        term = f"{da[i]} + {db[i]}" + (f" + {carry}" if carry else "")
        if lang == "en":
            lines.append(f"{names_en[i]}: {term} = {s}" + (f", write {s % 10}, carry 1." if s >= 10 else "."))
        else:
            lines.append(f"{names_ko[i]}: {term} = {s}" +
                         (f", {s % 10}{ko_particle(str(s % 10), '을', '를')} 쓰고 1을 올립니다." if s >= 10 else "."))
        carry = s // 10
    if carry:
        lines.append("Carry 1 to the front." if lang == "en" else "남은 1을 맨 앞에 씁니다.")
    lines.append(f"So {a} + {b} = {a + b}." if lang == "en" else f"따라서 {a} + {b} = {a + b}입니다.")
    return "\n".join(lines)


def sub_reasoning(a, b, lang):
    """Column subtraction with borrows (a >= b)."""
    width = len(str(a))
    da, db = digits_of(a, width)[::-1], digits_of(b, width)[::-1]
    names_en = ["Ones", "Tens", "Hundreds"]
    names_ko = ["일의 자리", "십의 자리", "백의 자리"]
    borrow, lines = 0, []
    for i in range(width):
        top = da[i] - borrow
        if top < db[i]:
            if lang == "en":
                lines.append(f"{names_en[i]}: {top} < {db[i]}, borrow 10: {top + 10} - {db[i]} = {top + 10 - db[i]}.")
            else:
                lines.append(f"{names_ko[i]}: {top} < {db[i]}이므로 10을 빌립니다: {top + 10} - {db[i]} = "
                             f"{top + 10 - db[i]}.")
            borrow = 1
        else:
            if lang == "en":
                lines.append(f"{names_en[i]}: {top} - {db[i]} = {top - db[i]}.")
            else:
                lines.append(f"{names_ko[i]}: {top} - {db[i]} = {top - db[i]}.")
            borrow = 0
    lines.append(f"So {a} - {b} = {a - b}." if lang == "en" else f"따라서 {a} - {b} = {a - b}입니다.")
    return "\n".join(lines)


def mul_reasoning(a, b, lang):
    if lang == "en":
        return f"{a} × {b} means {b} groups of {a}.\n{a} × {b} = {a * b}."
    return (f"{a} × {b}{ko_particle(str(b), '은', '는')} {a}{ko_particle(str(a), '을', '를')} {b}번 더한 것입니다.\n"
            f"{a} × {b} = {a * b}.")


def arithmetic_answer(op, a, b, lang):
    sym = {"add": "+", "sub": "-", "mul": "×"}[op]
    c = {"add": a + b, "sub": a - b, "mul": a * b}[op]
    return (f"{a} {sym} {b} = {c}." if lang == "en" else f"{a} {sym} {b} = {c}입니다."), str(c)


# ---------------------------------------------------------------- calendar

DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DAYS_KO = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
MONTHS_KO = [f"{i}월" for i in range(1, 13)]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


# Whether a unit, read aloud in Korean, ends in a consonant (킬로그램, 그램, 시간, 분 do).
UNIT_CODA = {"km": False, "m": False, "cm": False, "mm": False, "kg": True, "g": True, "L": False, "mL": False,
             "시간": True, "분": True, "초": False}


def ko_particle(word, with_batchim, without):
    """은/는, 이/가, 을/를, 과/와: the choice depends on the final syllable's coda (digits and units read aloud)."""
    if word in UNIT_CODA:
        has = UNIT_CODA[word]
    else:
        last = word[-1]
        if "가" <= last <= "힣":
            has = (ord(last) - 0xAC00) % 28 != 0
        elif last.isdigit():
            # 영 일 삼 육 칠 팔 end in a consonant; so do 십, 백, 천 (a final 0 is read as one of them).
            has = last in "013678"
        else:
            has = False
    return with_batchim if has else without


def ko_fill(template, **kw):
    """Formats a Korean template, choosing the particles after {a} and {b} by how the numbers are read."""
    a, b = str(kw["a"]), str(kw["b"])
    return template.format(eun=ko_particle(b, "은", "는"), eul=ko_particle(b, "을", "를"),
                           wa=ko_particle(a, "과", "와"), **kw)


def calendar_examples(rng):
    """(lang, prompt, reasoning, answer, key) for weekday and month questions; key identifies held-out items."""
    out = []
    for i in range(7):
        for lang in ("en", "ko"):
            nxt, prv = (i + 1) % 7, (i - 1) % 7
            if lang == "en":
                d = DAYS_EN
                out.append((lang, rng.choice([f"What day comes after {d[i]}?", f"What is the day after {d[i]}?"]),
                            f"The week goes {', '.join(d)}.\nThe day after {d[i]} is {d[nxt]}.",
                            f"The day after {d[i]} is {d[nxt]}.", ("after", i, lang)))
                out.append((lang, rng.choice([f"What day comes before {d[i]}?", f"What is the day before {d[i]}?"]),
                            f"The week goes {', '.join(d)}.\nThe day before {d[i]} is {d[prv]}.",
                            f"The day before {d[i]} is {d[prv]}.", ("before", i, lang)))
            else:
                d = DAYS_KO
                out.append((lang, rng.choice([f"{d[i]} 다음 날은 무슨 요일이야?", f"{d[i]} 다음은 무슨 요일인가요?"]),
                            f"요일은 {', '.join(d)} 순서입니다.\n{d[i]} 다음 날은 {d[nxt]}입니다.",
                            f"{d[i]} 다음 날은 {d[nxt]}입니다.", ("after", i, lang)))
                out.append((lang, rng.choice([f"{d[i]} 전날은 무슨 요일이야?", f"{d[i]} 하루 전은 무슨 요일인가요?"]),
                            f"요일은 {', '.join(d)} 순서입니다.\n{d[i]} 전날은 {d[prv]}입니다.",
                            f"{d[i]} 전날은 {d[prv]}입니다.", ("before", i, lang)))
            for k in range(2, 7):
                j = (i + k) % 7
                if lang == "en":
                    steps = ", ".join(f"{DAYS_EN[(i + s) % 7]} ({s})" for s in range(1, k + 1))
                    out.append((lang, f"If today is {DAYS_EN[i]}, what day will it be in {k} days?",
                                f"Count forward from {DAYS_EN[i]}: {steps}.\nIn {k} days it will be {DAYS_EN[j]}.",
                                f"In {k} days it will be {DAYS_EN[j]}.", ("plus", i, k, lang)))
                else:
                    steps = ", ".join(f"{DAYS_KO[(i + s) % 7]}({s})" for s in range(1, k + 1))
                    out.append((lang, f"오늘이 {DAYS_KO[i]}이면 {k}일 뒤는 무슨 요일이야?",
                                f"{DAYS_KO[i]}부터 세면: {steps}.\n{k}일 뒤는 {DAYS_KO[j]}입니다.",
                                f"{k}일 뒤는 {DAYS_KO[j]}입니다.", ("plus", i, k, lang)))
    for m in range(12):
        n, p = (m + 1) % 12, (m - 1) % 12
        days = MONTH_DAYS[m]
        out.append(("en", rng.choice([f"What month comes after {MONTHS_EN[m]}?", f"Which month follows {MONTHS_EN[m]}?"]),
                    f"{MONTHS_EN[m]} is month {m + 1}; month {n + 1} is {MONTHS_EN[n]}.",
                    f"{MONTHS_EN[n]} comes after {MONTHS_EN[m]}.", ("m_after", m, "en")))
        out.append(("en", f"What month comes before {MONTHS_EN[m]}?",
                    f"{MONTHS_EN[m]} is month {m + 1}; month {p + 1} is {MONTHS_EN[p]}.",
                    f"{MONTHS_EN[p]} comes before {MONTHS_EN[m]}.", ("m_before", m, "en")))
        out.append(("ko", f"{MONTHS_KO[m]} 다음은 몇 월이야?", f"{MONTHS_KO[m]} 다음 달은 {MONTHS_KO[n]}입니다.",
                    f"{MONTHS_KO[m]} 다음은 {MONTHS_KO[n]}입니다.", ("m_after", m, "ko")))
        out.append(("ko", f"{MONTHS_KO[m]} 전은 몇 월이야?", f"{MONTHS_KO[m]} 전 달은 {MONTHS_KO[p]}입니다.",
                    f"{MONTHS_KO[m]} 전은 {MONTHS_KO[p]}입니다.", ("m_before", m, "ko")))
        feb_en = " (29 in a leap year)" if m == 1 else ""
        feb_ko = " (윤년에는 29일)" if m == 1 else ""
        out.append(("en", rng.choice([f"How many days are in {MONTHS_EN[m]}?", f"How many days does {MONTHS_EN[m]} have?"]),
                    f"{MONTHS_EN[m]} has {days} days{feb_en}.", f"{MONTHS_EN[m]} has {days} days{feb_en}.",
                    ("m_days", m, "en")))
        out.append(("ko", rng.choice([f"{MONTHS_KO[m]}은 며칠까지 있어?", f"{MONTHS_KO[m]}에는 며칠이 있나요?"]),
                    f"{MONTHS_KO[m]}은 {days}일까지 있습니다{feb_ko}.", f"{MONTHS_KO[m]}은 {days}일까지 있습니다{feb_ko}.",
                    ("m_days", m, "ko")))
    out.append(("en", "How many days are in a week?", "A week is Monday to Sunday: 7 days.",
                "A week has 7 days.", ("week",)))
    out.append(("ko", "일주일은 며칠이야?", "월요일부터 일요일까지 7일입니다.", "일주일은 7일입니다.", ("week",)))
    out.append(("en", "How many months are in a year?", "January to December: 12 months.",
                "A year has 12 months.", ("year",)))
    out.append(("ko", "1년은 몇 달이야?", "1월부터 12월까지 12달입니다.", "1년은 12달입니다.", ("year",)))
    return out


# ---------------------------------------------------------------- units

UNITS = [
    # (big unit en, small unit en, ko big, ko small, factor, max big value)
    ("km", "m", "km", "m", 1000, 99),
    ("m", "cm", "m", "cm", 100, 99),
    ("cm", "mm", "cm", "mm", 10, 99),
    ("kg", "g", "kg", "g", 1000, 99),
    ("L", "mL", "L", "mL", 1000, 99),
    ("hours", "minutes", "시간", "분", 60, 24),
    ("minutes", "seconds", "분", "초", 60, 30),
]


def unit_example(rng, u, value, reverse, lang):
    big, small, kbig, ksmall, factor, _ = u
    res = value * factor
    if lang == "en":
        bu = big if value != 1 or big not in ("hours", "minutes") else big[:-1]
        if not reverse:
            prompt = rng.choice([f"How many {small} are in {value} {bu}?", f"Convert {value} {bu} to {small}.",
                                 f"{value} {bu} is how many {small}?"])
            reasoning = f"1 {big.rstrip('s') if big in ('hours', 'minutes') else big} = {factor} {small}.\n" \
                        f"{value} × {factor} = {res}."
            answer = f"{value} {bu} is {res} {small}."
            return prompt, reasoning, answer, f"{res} {small}"
        prompt = rng.choice([f"How many {big} are in {res} {small}?", f"Convert {res} {small} to {big}."])
        reasoning = f"1 {big.rstrip('s') if big in ('hours', 'minutes') else big} = {factor} {small}.\n" \
                    f"{res} ÷ {factor} = {value}."
        answer = f"{res} {small} is {value} {bu}."
        return prompt, reasoning, answer, f"{value} {bu}"
    sep = "" if kbig in ("시간", "분") else " "
    big_is, small_is = ko_particle(kbig, "은", "는"), ko_particle(ksmall, "은", "는")
    big_ya, small_ya = ko_particle(kbig, "이야", "야"), ko_particle(ksmall, "이야", "야")
    big_eul = ko_particle(kbig, "을", "를")
    small_ro = ko_particle(ksmall, "으로", "로")
    if not reverse:
        prompt = rng.choice([f"{value}{sep}{kbig}{big_is} 몇 {ksmall}{small_ya}?",
                             f"{value}{sep}{kbig}{big_eul} {ksmall}{small_ro} 바꾸면?"])
        reasoning = f"1{sep}{kbig} = {factor}{sep}{ksmall}이므로 {value} × {factor} = {res}입니다."
        answer = f"{value}{sep}{kbig}{big_is} {res}{sep}{ksmall}입니다."
        return prompt, reasoning, answer, f"{res}{sep}{ksmall}"
    prompt = f"{res}{sep}{ksmall}{small_is} 몇 {kbig}{big_ya}?"
    reasoning = f"1{sep}{kbig} = {factor}{sep}{ksmall}이므로 {res} ÷ {factor} = {value}입니다."
    answer = f"{res}{sep}{ksmall}{small_is} {value}{sep}{kbig}입니다."
    return prompt, reasoning, answer, f"{value}{sep}{kbig}"


# ---------------------------------------------------------------- assembly

SYSTEMS_EN = ["You are a helpful assistant.", "You are a friendly assistant. Answer briefly."]
SYSTEMS_KO = ["당신은 친절한 도우미입니다.", "짧고 정확하게 답하세요."]


def example(prompt, answer, reasoning, thinking, lang, rng, system_rate=0.15):
    msgs = []
    if rng.random() < system_rate:
        msgs.append({"role": "system", "content": rng.choice(SYSTEMS_EN if lang == "en" else SYSTEMS_KO)})
    msgs.append({"role": "user", "content": prompt})
    turn = {"role": "assistant", "content": answer}
    if thinking:
        turn["reasoning_content"] = reasoning
    msgs.append(turn)
    return {"messages": msgs, "enable_thinking": thinking}


def default_reasoning(prompt, answer, lang):
    if lang == "en":
        return "The user greets me or asks a simple question. I answer briefly and politely."
    return "사용자가 인사하거나 간단한 질문을 했습니다. 짧고 정중하게 답합니다."


def build(seed):
    rng = random.Random(seed)
    train, test = [], []

    def both_modes(prompt, answer, reasoning, lang, copies=1):
        for _ in range(copies):
            for thinking in (False, True):
                train.append(example(prompt, answer, reasoning, thinking, lang, rng))

    # Small talk and project questions: every phrasing but one is trained; the last phrasing is held out.
    for en_q, en_a, ko_q, ko_a in SMALL_TALK:
        for qs, ans, lang in ((en_q, en_a, "en"), (ko_q, ko_a, "ko")):
            for q in qs[:-1]:
                both_modes(q, rng.choice(ans), default_reasoning(q, ans, lang), lang, copies=6)
            test.append({"lang": lang, "category": "small_talk", "prompt": qs[-1], "answer": ans[0], "answers": ans})
    for en_q, en_a, ko_q, ko_a in PROJECT_QA:
        for qs, ans, lang in ((en_q, en_a, "en"), (ko_q, ko_a, "ko")):
            reasoning = ("The user asks about exaone.cpp. I answer from its README." if lang == "en"
                         else "사용자가 exaone.cpp에 대해 묻습니다. README의 내용으로 답합니다.")
            train_qs = qs[:-1] if len(qs) > 2 else qs[:1]
            for q in train_qs:
                both_modes(q, ans, reasoning, lang, copies=8)
            test.append({"lang": lang, "category": "exaone_cpp", "prompt": qs[-1], "answer": ans})
    en_q, en_a, ko_q, ko_a = OUT_OF_DOMAIN
    for qs, ans, lang in ((en_q, en_a, "en"), (ko_q, ko_a, "ko")):
        reasoning = ("This question is outside what I know. I say so honestly." if lang == "en"
                     else "제가 아는 범위 밖의 질문입니다. 솔직하게 말합니다.")
        for q in qs[:-3]:
            both_modes(q, ans[0], reasoning, lang, copies=2)
        for q in qs[-3:]:
            test.append({"lang": lang, "category": "out_of_domain", "prompt": q, "answer": ans[0]})

    # Arithmetic: a fixed 10% of operand pairs is held out for the task score.
    def held_out(*key):
        digest = hashlib.sha256(repr(("held", seed) + key).encode()).digest()
        return int.from_bytes(digest[:8], "little") / 2**64 < 0.1

    def arith(op, a, b, n_train):
        for lang in ("en", "ko"):
            tmpl = {"add": (ADD_EN, ADD_KO), "sub": (SUB_EN, SUB_KO), "mul": (MUL_EN, MUL_KO)}[op][lang == "ko"]
            answer, value = arithmetic_answer(op, a, b, lang)
            reason = {"add": add_reasoning, "sub": sub_reasoning, "mul": mul_reasoning}[op](a, b, lang)
            if held_out(op, a, b):
                if rng.random() < 0.25:
                    test.append({"lang": lang, "category": f"arithmetic_{op}",
                                 "prompt": ko_fill(rng.choice(tmpl), a=a, b=b), "answer": answer,
                                 "value": value, "enable_thinking": rng.random() < 0.5})
                continue
            for _ in range(n_train):
                thinking = rng.random() < 0.5
                train.append(example(ko_fill(rng.choice(tmpl), a=a, b=b), answer, reason, thinking, lang, rng))

    for a in range(0, 100):
        for b in range(0, 100):
            if rng.random() < 0.5:
                arith("add", a, b, 1)
            if a >= b and rng.random() < 0.5:
                arith("sub", a, b, 1)
    for _ in range(3000):  # three-digit sums and differences, sampled
        a, b = rng.randrange(100, 1000), rng.randrange(0, 1000)
        arith("add", a, b, 1)
        if a >= b:
            arith("sub", a, b, 1)
    for a in range(1, 13):
        for b in range(1, 13):
            arith("mul", a, b, 4)

    # Calendar: every fact trained; a fixed set of "in k days" items is held out.
    for lang, prompt, reasoning, answer, key in calendar_examples(rng):
        if key[0] == "plus" and held_out(*key):
            test.append({"lang": lang, "category": "calendar", "prompt": prompt, "answer": answer,
                         "enable_thinking": rng.random() < 0.5})
            continue
        copies = 3 if key[0] == "plus" else 8
        both_modes(prompt, answer, reasoning, lang, copies=copies)
        if key[0] in ("after", "before", "m_after", "m_before", "m_days") and rng.random() < 0.15:
            test.append({"lang": lang, "category": "calendar", "prompt": prompt, "answer": answer,
                         "enable_thinking": rng.random() < 0.5})

    # Units: 10% of values held out.
    for u in UNITS:
        for value in range(1, u[5] + 1):
            for reverse in (False, True):
                for lang in ("en", "ko"):
                    prompt, reasoning, answer, value_str = unit_example(rng, u, value, reverse, lang)
                    if held_out("unit", u[0], value, reverse):
                        if lang == "en" or rng.random() < 0.5:
                            test.append({"lang": lang, "category": "units", "prompt": prompt, "answer": answer,
                                         "value": value_str, "enable_thinking": rng.random() < 0.5})
                        continue
                    for _ in range(2):
                        train.append(example(prompt, answer, reasoning, rng.random() < 0.5, lang, rng))

    # Two-turn conversations: a greeting, then a question (history is part of real chats).
    singles = [e for e in train if len(e["messages"]) == 2]
    for _ in range(len(train) // 10):
        first, second = rng.choice(singles), rng.choice(singles)
        hist = [dict(m) for m in first["messages"]]
        hist[-1].pop("reasoning_content", None)
        train.append({"messages": hist + second["messages"], "enable_thinking": second["enable_thinking"]})

    rng.shuffle(train)
    n_valid = max(200, len(train) // 50)
    return train[n_valid:], train[:n_valid], test


def prose(train):
    """The answers as plain prose: pretraining text in the same voice as the chat answers."""
    seen, lines = set(), []
    for e in train:
        for m in e["messages"]:
            if m["role"] == "assistant" and m["content"] not in seen:
                seen.add(m["content"])
                lines.append(m["content"])
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train, valid, test = build(args.seed)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(args.out, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write(prose(train))
    print(f"train {len(train)}  valid {len(valid)}  test {len(test)} examples -> {args.out}")


if __name__ == "__main__":
    main()
