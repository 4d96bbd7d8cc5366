#!/usr/bin/env python3
"""Generates the labelled evaluation set for `exaone comply` detectors.

Synthetic Korean and English documents with planted identifiers of every finding type, each in
the written forms people use: phones in domestic and international form (+82 with or without
the trunk 0, spaces, dots, dashes, parentheses), RRN/FRN/BRN/corporate numbers and cards with
and without separators (cards 4-4-4-4, Amex 4-6-5, unbroken), full-width digits and signs,
dash variants; placed at the start or end of the text, glued to Korean labels and particles
(번호는010-…, …로), in parentheses and after colons. Hard negatives: dates in every layout,
times, order/invoice/tracking numbers, counts and ranges, version strings, ISBNs, barcodes and
product codes, amounts, coordinates, and identifiers whose checksum is wrong where the type
requires one (BRN, corporate number, card). Checksums are computed here from the published
rules (spec §D1), independently of the C++ code. Labels are byte offsets into the UTF-8 text.

    python3 scripts/comply/make_eval_set.py --out tests/fixtures/comply/eval_set.jsonl
"""
import argparse
import json
import random
import sys

R = random.Random()


# ---------------------------------------------------------------- identifier generators
def rand_date(y0, y1):
    while True:
        y, m, d = R.randint(y0, y1), R.randint(1, 12), R.randint(1, 31)
        mdays = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        if d <= mdays[m - 1]:
            return y, m, d


def rrn_like(foreign=False, post2020=False):
    if post2020:
        y, m, d = rand_date(2020, 2024)
        if y == 2020 and m < 10:
            m = R.randint(10, 12)
    else:
        y, m, d = rand_date(1935, 2019)
    if foreign:
        g = R.choice([5, 6]) if y < 2000 else R.choice([7, 8])
    else:
        g = R.choice([1, 2]) if y < 2000 else R.choice([3, 4])
    head = f"{y % 100:02d}{m:02d}{d:02d}{g}"
    if post2020:
        tail = "".join(str(R.randint(0, 9)) for _ in range(6))
        return head + tail, None
    body = head + f"{R.randint(0, 95):02d}" + "".join(str(R.randint(0, 9)) for _ in range(3))
    w = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    s = sum(int(c) * wi for c, wi in zip(body, w))
    check = ((13 if foreign else 11) - s % 11) % 10
    return body + str(check), True


def brn(valid=True):
    while True:
        d = [R.randint(1, 9), R.randint(0, 9), R.randint(0, 9)] + [R.randint(0, 9) for _ in range(6)]
        if d[0] * 100 + d[1] * 10 + d[2] < 101 or d[3:5] == [0, 0] or d[5:9] == [0, 0, 0, 0]:
            continue
        w = [1, 3, 7, 1, 3, 7, 1, 3, 5]
        s = sum(a * b for a, b in zip(d, w)) + (d[8] * 5) // 10
        c = (10 - s % 10) % 10
        if not valid:
            c = (c + R.randint(1, 9)) % 10
        digits = "".join(map(str, d)) + str(c)
        return digits


def crn(valid=True):
    d = [R.randint(1, 2), R.randint(0, 9), R.randint(0, 9), R.randint(1, 9), R.randint(1, 8), R.randint(1, 9)] + [
        R.randint(0, 9) for _ in range(6)]
    s = sum(x * (2 if i % 2 else 1) for i, x in enumerate(d))
    c = (10 - s % 10) % 10
    if not valid:
        c = (c + R.randint(1, 9)) % 10
    return "".join(map(str, d)) + str(c)


def luhn_complete(prefix, length, valid=True):
    body = prefix + "".join(str(R.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    for c in range(10):
        cand = body + str(c)
        tot = 0
        for i, ch in enumerate(reversed(cand)):
            v = int(ch)
            if i % 2:
                v *= 2
                if v > 9:
                    v -= 9
            tot += v
        if (tot % 10 == 0) == valid:
            return cand
    return body + "0"


def card(valid=True):
    kind = R.choice(["visa", "mc", "mc2", "amex", "jcb", "bc", "unionpay"])
    if kind == "visa":
        d = luhn_complete("4" + str(R.randint(0, 9)), 16, valid)
    elif kind == "mc":
        d = luhn_complete(str(R.randint(51, 55)), 16, valid)
    elif kind == "mc2":
        d = luhn_complete(str(R.randint(2221, 2720)), 16, valid)
    elif kind == "amex":
        d = luhn_complete(R.choice(["34", "37"]), 15, valid)
    elif kind == "jcb":
        d = luhn_complete(str(R.randint(3528, 3589)), 16, valid)
    elif kind == "bc":
        d = luhn_complete("94" + str(R.randint(0, 9)), 16, valid)
    else:
        d = luhn_complete("62", 16, valid)
    if len(d) == 15:
        groups = [d[:4], d[4:10], d[10:]]  # American Express: 4-6-5
    else:
        groups = [d[i:i + 4] for i in range(0, 16, 4)]
    sep = R.choice(["-", "-", " ", " ", ""])
    return sep.join(groups)


def digits(n):
    return "".join(str(R.randint(0, 9)) for _ in range(n))


MOBILE = ["010"] * 6 + ["011", "016", "017", "019"]
AREAS = ["031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055", "061", "062", "063", "064"]
# Every written form of a Korean number: {c} is the code with its trunk 0 ("010", "02", "031"),
# {n} the code without it ("10", "2", "31"), {m} and {l} the subscriber groups.
PHONE_DOMESTIC = ["{c}-{m}-{l}", "{c}-{m}-{l}", "{c}-{m}-{l}", "{c} {m} {l}", "{c}.{m}.{l}", "{c}{m}{l}", "({c}) {m}-{l}",
                  "({c}){m}-{l}", "{c}){m}-{l}", "{c} {m}-{l}"]
PHONE_INTL = ["+82 {n} {m} {l}", "+82-{n}-{m}-{l}", "+82.{n}.{m}.{l}", "+82 (0){n}-{m}-{l}", "+82 (0){n} {m} {l}",
              "+82(0){n}-{m}-{l}", "+82({n}){m}-{l}", "+82 ({n}) {m}-{l}", "+82 {c} {m} {l}", "+82-{c}-{m}-{l}",
              "+82{n}-{m}-{l}", "+82{n}{m}{l}", "+82 {n}-{m}-{l}", "+82 {n}{m}{l}", "+82 {n} {m}-{l}"]


def phone():
    kind = R.choice(["mobile"] * 5 + ["seoul", "seoul", "area", "area", "voip", "personal", "toll", "service"])
    if kind == "service":
        return R.choice(["-", "-", "-", " "]).join([R.choice(["1588", "1577", "1544", "1566", "1661", "1670", "1800", "1855"]), digits(4)])
    if kind == "mobile":
        c = R.choice(MOBILE)
        m = digits(4 if c == "010" or R.random() < 0.5 else 3)
    elif kind == "seoul":
        c, m = "02", digits(R.choice([3, 4]))
    elif kind == "area":
        c, m = R.choice(AREAS), digits(R.choice([3, 4]))
    elif kind == "voip":
        c, m = "070", digits(4)
    elif kind == "personal":
        c, m = "050" + str(R.randint(2, 8)), digits(4)
    else:
        c, m = "080", digits(3)
    form = R.choice(PHONE_INTL if R.random() < 0.4 else PHONE_DOMESTIC)
    if kind in ("personal", "toll", "voip") and form.startswith("+"):
        form = "{c}-{m}-{l}"  # rarely written in international form
    if kind == "mobile" and R.random() < 0.05:
        form = "82-{n}-{m}-{l}"
    return form.format(c=c, n=c[1:], m=m, l=digits(4))


BANKS = [("KB국민은행", [6, 2, 6]), ("신한은행", [3, 3, 6]), ("우리은행", [4, 3, 6]), ("하나은행", [3, 6, 5]),
         ("NH농협", [3, 4, 4, 2]), ("IBK기업은행", [3, 6, 2, 3]), ("카카오뱅크", [4, 2, 7]), ("토스뱅크", [4, 4, 4])]


def bank():
    name, layout = R.choice(BANKS)
    return name, R.choice(["-", "-", "-", " ", ""]).join(digits(n) for n in layout)


FIRST_KO = ["민준", "서연", "지호", "하은", "도윤", "수아", "예준", "지우", "시우", "서윤", "주원", "하린", "건우", "채원", "현우",
            "지민", "유진", "승민", "다은", "준서"]
SURN_KO = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안", "송", "류", "홍"]
FIRST_EN = ["John", "Mary", "James", "Linda", "Robert", "Sarah", "David", "Emma", "Daniel", "Grace"]
LAST_EN = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Park", "Kim", "Lee", "Choi", "Walker"]
CITIES = [("서울특별시", ["강남구", "종로구", "마포구", "송파구"]), ("부산광역시", ["해운대구", "수영구"]),
          ("경기도", ["성남시 분당구", "수원시 영통구", "고양시 일산동구"]), ("대전광역시", ["유성구", "서구"]),
          ("인천광역시", ["연수구", "남동구"])]
ROADS = ["테헤란로", "세종대로", "올림픽로", "판교역로", "월드컵북로", "해운대해변로", "대학로", "광교중앙로", "한밭대로"]
DONGS = ["역삼동", "삼성동", "서교동", "우동", "정자동", "봉명동", "송도동"]


def address():
    city, gus = R.choice(CITIES)
    gu = R.choice(gus)
    if R.random() < 0.6:
        a = f"{city} {gu} {R.choice(ROADS)} {R.randint(1, 400)}"
        if R.random() < 0.4:
            a += f"-{R.randint(1, 30)}"
        if R.random() < 0.4:
            a += f", {R.randint(1, 20)}층"
    else:
        a = f"{city} {gu} {R.choice(DONGS)} {R.randint(1, 999)}-{R.randint(1, 99)}"
        if R.random() < 0.5:
            a += "번지"
    if R.random() < 0.2:
        a = a.replace("서울특별시", "서울").replace("부산광역시", "부산")
    return a


def secret():
    import string
    alnum = string.ascii_letters + string.digits
    kind = R.choice(["aws", "github", "slack", "google", "pem", "jwt", "hf"])
    if kind == "aws":
        return "AKIA" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    if kind == "github":
        return "ghp_" + "".join(R.choice(alnum) for _ in range(36))
    if kind == "slack":
        return "xoxb-" + digits(11) + "-" + digits(12) + "-" + "".join(R.choice(alnum) for _ in range(24))
    if kind == "google":
        return "AIza" + "".join(R.choice(alnum + "_-") for _ in range(35))
    if kind == "hf":
        return "hf_" + "".join(R.choice(alnum) for _ in range(34))
    if kind == "jwt":
        b = lambda n: "".join(R.choice(alnum + "_-") for _ in range(n))
        return "eyJ" + b(30) + ".eyJ" + b(40) + "." + b(43)
    body = "\n".join("".join(R.choice(alnum + "+/") for _ in range(64)) for _ in range(3))
    return "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----"


FULLWIDTH = {c: chr(0xFF10 + int(c)) for c in "0123456789"}
FULLWIDTH.update({"-": "－", "+": "＋", "(": "（", ")": "）", ".": "．"})


def vary_digits(s):
    """Korean text often uses full-width digits, signs and spaces, and other hyphens."""
    r = R.random()
    if r < 0.12:
        out = "".join(FULLWIDTH.get(c, c) for c in s)
        return out.replace(" ", "\u3000") if R.random() < 0.5 else out
    if r < 0.2:
        return s.replace("-", R.choice(["‐", "–", "−"]))
    return s


# ---------------------------------------------------------------- sentences
FILLER_KO = ["오늘 회의에서는 다음 분기 계획을 논의했습니다.", "자세한 내용은 첨부 파일을 참고하시기 바랍니다.",
             "행사는 오후 3시에 시작하며 약 200명이 참석할 예정입니다.", "이번 업데이트로 성능이 크게 개선되었습니다.",
             "고객 만족도 조사는 다음 주까지 진행됩니다.", "날씨가 추워지니 건강에 유의하세요.",
             "신규 서비스는 2024년 3월 15일에 출시되었습니다.", "참가비는 1인당 15,000원입니다."]
FILLER_EN = ["The meeting covered next quarter's plan.", "Please see the attached file for details.",
             "About 200 people are expected to attend.", "This update improves performance considerably.",
             "The survey runs until next Friday.", "The service launched on March 15, 2024."]


def sep_form(groups, seps):
    return R.choice(seps).join(groups)


# Templates per type. Besides plain "label value" sentences they place the value at the start of
# the sentence, glued to Korean particles and labels (번호는010-…, …로), in parentheses and after
# colons without a space.
TEMPLATES = {
    "rrn": (["주민등록번호: {}", "본인 확인을 위해 주민번호 {}를 입력했습니다.", "신청인 주민등록번호({}) 서류 접수",
             "주민등록번호는 {} 입니다.", "주민번호:{}", "주민등록번호는{}입니다.", "{} (주민등록번호)",
             "주민번호 {}로 조회했습니다.", "Resident registration number {} was found in the form.", "등록번호 {} 확인 바랍니다."],
            ["Resident registration number: {}", "The RRN {} appeared in the scanned form.", "RRN:{}",
             "{} (resident registration no.)"]),
    "frn": (["외국인등록번호 {}", "외국인 등록번호는 {}입니다.", "Alien registration no. {}", "체류 외국인 {} 확인",
             "외국인등록번호:{}", "{} (외국인등록번호)"], None),
    "brn": (["사업자등록번호 {}", "(주)한빛상사 사업자번호: {}", "Business registration number {}", "상호: 미래테크, 등록번호 {}, 대표 이사",
             "사업자등록번호:{}", "사업자번호는{}입니다.", "{}(사업자등록번호)", "(사업자등록번호 {})"], None),
    "crn": (["법인등록번호 {}", "법인등록번호: {} (본점)", "Corporate registration number {}", "법인번호:{}", "법인등록번호는{}이며"], None),
    "passport": (["여권번호 {}", "여권 번호는 {}입니다.", "Passport No. {}", "passport number {} expires in 2030",
                  "여권번호:{}", "여권({})", "{} 여권 사본 첨부"], None),
    "driver_license": (["운전면허번호 {}", "운전면허증 번호: {}", "Driver's license number {}", "면허번호 {} 확인",
                        "운전면허번호:{}", "면허번호는{}입니다.", "{} (운전면허)"], None),
    "phone": (["연락처: {}", "문의는 {}로 주세요.", "휴대폰 {} 으로 연락 바랍니다.", "대표전화 {}", "{} 번호로 전화 주시면 안내해 드립니다.",
               "연락처:{}", "번호는{}입니다.", "전화번호는{}이고 팩스는 없습니다.", "(연락처 {})", "담당자 연락처({})",
               "휴대전화 {}로 연락 주세요", "Tel.{}", "T. {}", "{}로 전화 주세요.", "문의 전화: {}"],
              ["Call us at {}.", "Phone: {}", "Reach me on {} after 6pm.", "Tel: {}", "Mobile {}", "(tel. {})",
               "Contact:{}", "{} (mobile)", "Fax {}"]),
    "bank_account": (["{bank} {} 예금주 <NAME>", "입금 계좌: {bank} {}", "{bank} 계좌번호 {}로 송금해 주세요.",
                      "Please transfer to {bank} account {}.", "계좌:{bank} {}", "{bank}({}) 예금주 <NAME>",
                      "환불 계좌는 {bank} {}입니다."], None),
    "card": (["카드번호 {}", "결제 카드: {}", "{} 카드로 결제했습니다.", "Card number {}", "card on file: {}", "카드번호:{}",
              "카드번호는{}입니다.", "신용카드({}) 결제"], None),
    "email": (["이메일: {}", "{}로 회신 바랍니다.", "Email me at {}.", "문의 메일 {}", "메일:{}", "(이메일 {})",
               "보낸 사람 <{}>", "mailto:{}", "{}으로 보내 주세요."], None),
    "ip": (["접속 IP {} 에서 로그인 시도", "server at {} responded", "로그: {} - GET /index.html", "IP:{}",
            "접속 주소({})", "{}에서 접속했습니다.", "방화벽에서 {} 차단"], None),
    "postal_code": (["우편번호 {}", "(우) {} 서울시", "Postal code {}", "우편번호: {}", "우편번호:{}", "우){}", "우편번호는{}입니다."],
                    None),
    "address": (["주소: {}", "본사는 {} 에 있습니다.", "배송지 {} (경비실 맡김)", "{} 로 방문해 주세요"], None),
}


def email():
    user = R.choice(["kim", "lee.j", "park_s", "contact", "hr-team", "minjun.kim", "Kim.Minjun", "support+kr", "j_lee"]) + \
        str(R.randint(0, 99))
    dom = R.choice(["example.com", "example.co.kr", "mail.example.org", "corp.example.kr", "EXAMPLE.COM", "ex-ample.net"])
    return user + "@" + dom


def ip():
    v = ".".join(str(R.randint(1, 254)) for _ in range(4))
    r = R.random()
    if r < 0.15:
        return v + ":" + str(R.choice([22, 80, 443, 8080, 3306]))
    if r < 0.25:
        return v + "/" + str(R.choice([8, 16, 24, 32]))
    return v


def planted(lang):
    """Returns (template with {} for the value, type, value, checksum_valid)."""
    t = R.choice(["rrn", "rrn", "frn", "brn", "crn", "passport", "driver_license", "phone", "phone", "phone", "bank_account",
                  "card", "card", "email", "ip", "postal_code", "address", "person_name", "secret"])
    ko = lang == "ko"
    if t in TEMPLATES:
        ko_tpl, en_tpl = TEMPLATES[t]
        tpl = R.choice(ko_tpl if ko or en_tpl is None else en_tpl)
    if t in ("rrn", "frn"):
        post = R.random() < 0.3
        d, ck = rrn_like(foreign=(t == "frn"), post2020=post)
        v = sep_form([d[:6], d[6:]], ["-", "-", "-", " ", ""])
        return tpl, t, vary_digits(v), ck
    if t == "brn":
        d = brn()
        return tpl, t, vary_digits(sep_form([d[:3], d[3:5], d[5:]], ["-", "-", "-", " ", ""])), True
    if t == "crn":
        d = crn()
        return tpl, t, vary_digits(sep_form([d[:6], d[6:]], ["-", "-", " ", ""])), True
    if t == "passport":
        v = R.choice("MSROD") + (digits(8) if R.random() < 0.5 else digits(3) + R.choice("ABCDEFGH") + digits(4))
        return tpl, t, v, None
    if t == "driver_license":
        region = R.choice(list(range(11, 27)) + [28])
        groups = [f"{region}", f"{R.randint(0, 24):02d}", digits(6), digits(2)]
        if R.random() < 0.15:  # older licences print the region as a name
            v = R.choice(["서울", "부산", "경기", "강원", "충북", "전남", "경북", "제주"]) + " " + "-".join(groups[1:])
        else:
            v = sep_form(groups, ["-", "-", "-", " ", ""])
        return tpl, t, vary_digits(v), None
    if t == "phone":
        return tpl, t, vary_digits(phone()), None
    if t == "bank_account":
        name, v = bank()
        return tpl.replace("{bank}", name), t, v, None
    if t == "card":
        return tpl, t, vary_digits(card()), True
    if t == "email":
        return tpl, t, email(), None
    if t == "ip":
        return tpl, t, ip(), None
    if t == "postal_code":
        v = f"{R.randint(1, 63):02d}{digits(3)}"
        return tpl, t, vary_digits(v), None
    if t == "address":
        return tpl, t, address(), None
    if t == "person_name":
        if ko and R.random() < 0.85:
            n = R.choice(SURN_KO) + R.choice(FIRST_KO)
            form = R.choice(["{}님께서 요청하셨습니다.", "{} 과장이 보고했습니다.", "성명: {}", "담당자 {}",
                             "{} 교수님 연구실", "예금주 {}", "{} 씨가 참석했다."])
            return form, t, n, None
        n = R.choice(FIRST_EN) + " " + R.choice(LAST_EN)
        form = R.choice(["Mr. {} will attend.", "Dr. {} signed the report.", "Name: {}", "Ms. {} called back."])
        return form, t, n, None
    tpl = R.choice(["config: key={}", "토큰 {} 노출됨", "export TOKEN={}", "leaked credential:\n{}\n"])
    return tpl, "secret", secret(), None


def ean13():
    body = "880" + digits(9)  # Korean product barcodes start with 880
    tot = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return body + str((10 - tot % 10) % 10)


def hard_negative(lang):
    kind = R.choice(["date", "date", "order", "order", "invoice", "count", "range", "version", "version", "isbn", "brn_bad",
                     "crn_bad", "card_bad", "bad_date", "tracking", "tracking", "money", "money", "time", "model", "doc_no",
                     "percent", "coords", "product", "plus"])
    if kind == "date":
        y, m, d = rand_date(1990, 2025)
        return R.choice([f"{y}-{m:02d}-{d:02d}에 작성됨", f"작성일 {y}.{m:02d}.{d:02d}", f"Updated {y}/{m:02d}/{d:02d}.",
                         f"{y}년 {m}월 {d}일 기준", f"{y}{m:02d}{d:02d} 배포", f"{y}. {m}. {d}. 공지", f"{y % 100:02d}.{m:02d}.{d:02d} 개정",
                         f"due {d:02d}/{m:02d}/{y}", f"기간: {y}.{m:02d}.{d:02d}~{y}.{m:02d}.{min(d + 1, 28):02d}",
                         f"{y}-{m:02d}-{d:02d} {R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d} 기록"])
    if kind == "order":
        y, m, d = rand_date(2019, 2025)
        return R.choice([f"주문번호 {digits(8)}-{digits(7)}", f"주문번호: {digits(14)}", f"Order #{digits(10)} shipped.",
                         f"주문번호 {y}{m:02d}{d:02d}-{digits(7)}", f"주문번호:{y}{m:02d}{d:02d}{digits(8)}",
                         f"Order No. {digits(10)}", f"주문번호 {R.choice('456')}{digits(15)} 결제 완료", f"예약번호 {digits(10)}"])
    if kind == "invoice":
        return R.choice([f"INV-{R.randint(2019, 2025)}-{digits(6)} 청구서 발행", f"Invoice No. {R.randint(2019, 2025)}-{digits(7)}",
                         f"세금계산서 승인번호 {digits(8)}-{digits(8)}-{digits(8)}"])
    if kind == "count":
        return R.choice([f"총 {R.randint(1, 999)},{digits(3)}명이 방문했습니다.", f"{R.randint(2, 99)}개 품목, {digits(4)}건 처리",
                         f"We processed {R.randint(1, 99)},{digits(3)} requests.", f"누적 {R.randint(1, 9)}{digits(9)}건 처리",
                         f"조회수 {R.randint(1, 9)}{digits(10)}회"])
    if kind == "range":
        a = R.choice([1500, 1600, 1800])
        return R.choice([f"참가자는 {a}-{a + 500}명 수준입니다.", f"가격대는 {a}-{a + 200}원", f"pp. {R.randint(100, 999)}-{R.randint(1000, 1999)}"])
    if kind == "version":
        a, b, c, e = R.randint(1, 9), R.randint(0, 20), R.randint(0, 20), R.randint(0, 99)
        return R.choice([f"버전 {a}.{b}.{c}.{e} 배포", f"v{a}.{b}.{c}.{e} release", f"version {a}.{b}.{c}.{e}", f"ver. {a}.{b}.{c}.{e}",
                         f"Chrome {R.randint(100, 130)}.0.{digits(4)}.{R.randint(10, 200)}", f"build {a}.{b}.{c}",
                         f"펌웨어 버전 {a}.{b}.{c}.{e}로 업데이트"])
    if kind == "isbn":
        return R.choice([f"ISBN 978-89-{digits(4)}-{digits(3)}-{R.randint(0, 9)}", f"ISBN {R.choice(['978', '979'])}{digits(10)}",
                         f"ISBN 89-{digits(4)}-{digits(3)}-X"])
    if kind == "brn_bad":
        d = brn(valid=False)
        return f"사업자등록번호 {d[:3]}-{d[3:5]}-{d[5:]} (오기재)"
    if kind == "crn_bad":
        # A corporate-looking number (first 6 digits are not a date) with a wrong check digit.
        body = [1, R.randint(0, 9), 9, 9] + [R.randint(0, 9) for _ in range(8)]
        s = sum(x * (2 if i % 2 else 1) for i, x in enumerate(body))
        d = "".join(map(str, body)) + str(((10 - s % 10) % 10 + R.randint(1, 9)) % 10)
        return f"법인등록번호 {d[:6]}-{d[6:]}"
    if kind == "card_bad":
        d = luhn_complete("4" + str(R.randint(0, 9)), 16, valid=False)
        return R.choice([f"카드번호 {d[:4]}-{d[4:8]}-{d[8:12]}-{d[12:]} 는 유효하지 않습니다.", f"카드번호 {d} 오류"])
    if kind == "bad_date":
        return f"관리번호 {R.randint(0, 99):02d}{R.randint(13, 99)}{R.randint(32, 99)}-{R.randint(1, 4)}{digits(6)}"
    if kind == "tracking":
        return R.choice([f"운송장번호 {digits(12)} 조회", f"CJ대한통운 운송장 {digits(4)}-{digits(4)}-{digits(4)}",
                         f"tracking 1Z{digits(3)}AA{digits(10)}", f"등기번호 {digits(13)}", f"EMS EE{digits(9)}KR 발송",
                         f"송장번호:{digits(12)}"])
    if kind == "money":
        return R.choice([f"₩{R.randint(1, 999)},{digits(3)},{digits(3)}", f"매출 {R.randint(10, 999)}억 {digits(4)}만원",
                         f"{R.randint(1, 999)},{digits(3)},{digits(3)}원", f"합계 {R.randint(1, 9)}{digits(9)}원",
                         f"${R.randint(1, 999)},{digits(3)}.{digits(2)}", f"₩{R.randint(1, 9)}{digits(9)}",
                         f"USD {R.randint(1, 9)},{digits(3)}.{digits(2)}", f"총액 {R.randint(1, 9)}{digits(10)}원(VAT 포함)"])
    if kind == "time":
        return R.choice([f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}에 시작", f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d} 기준",
                         f"오후 {R.randint(1, 12)}:{R.randint(0, 59):02d} 도착", f"T{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:00Z"])
    if kind == "model":
        return R.choice([f"모델명 M{digits(8)} 제품 안내", f"모델 SM-G{digits(3)}N", f"품번 AB-{digits(4)}-{digits(4)}"])
    if kind == "product":
        return R.choice([f"바코드 {ean13()}", f"상품코드 {ean13()}", f"SKU-{R.randint(2019, 2025)}-{digits(5)}",
                         f"P/N {digits(4)}-{digits(4)}-{digits(2)}", f"제품코드 {digits(4)}-{digits(6)}"])
    if kind == "doc_no":
        return f"문서번호 {digits(3)}-{digits(3)}-{digits(6)}"
    if kind == "coords":
        return R.choice([f"좌표 {R.randint(33, 38)}.{digits(4)}, {R.randint(125, 129)}.{digits(4)}",
                         f"({R.randint(33, 38)}.{digits(6)}, {R.randint(125, 129)}.{digits(6)})",
                         f"위도 {R.randint(33, 38)}.{digits(6)} 경도 {R.randint(125, 129)}.{digits(6)}",
                         f"GPS {R.randint(33, 38)}.{digits(4)},{R.randint(125, 129)}.{digits(4)}"])
    if kind == "plus":
        return R.choice([f"전년 대비 +{R.randint(10, 99)}.{R.randint(0, 9)}% 증가", f"점수 +82점", f"+{R.randint(10, 99)} {digits(3)}명 증가"])
    return f"성장률 {R.randint(1, 99)}.{R.randint(0, 9)}% 기록"


def make_doc(i):
    lang = "ko" if R.random() < 0.75 else "en"
    filler = FILLER_KO if lang == "ko" else FILLER_EN
    parts, labels = [], []
    pos = 0

    def emit(s):
        nonlocal pos
        parts.append(s)
        pos += len(s.encode("utf-8"))

    count = R.randint(3, 8)
    for k in range(count):
        r = R.random()
        if r < 0.45:
            tpl, t, v, ck = planted(lang)
            pre, post = tpl.split("{}")
            emit(pre)
            start = pos
            emit(v)
            labels.append({"type": t, "start": start, "end": pos, "checksum_valid": ck})
            if "<NAME>" in post:  # a second identifier in the same sentence (account holder)
                a, b = post.split("<NAME>")
                emit(a)
                start = pos
                emit(R.choice(SURN_KO) + R.choice(FIRST_KO))
                labels.append({"type": "person_name", "start": start, "end": pos, "checksum_valid": None})
                post = b
            emit(post)
        elif r < 0.75:
            emit(hard_negative(lang))
        else:
            emit(R.choice(filler))
        if k + 1 < count or R.random() < 0.5:  # otherwise the text ends right after the last value
            emit(R.choice([" ", " ", "\n"]))
    return {"id": f"eval-{i:05d}", "lang": lang, "text": "".join(parts), "labels": labels}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", type=int, default=800)
    ap.add_argument("--seed", type=int, default=20250105)
    a = ap.parse_args()
    R.seed(a.seed)
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.docs):
            f.write(json.dumps(make_doc(i), ensure_ascii=False) + "\n")
    meta = {"generator": "scripts/comply/make_eval_set.py", "seed": a.seed, "docs": a.docs,
            "python": sys.version.split()[0]}
    with open(a.out.rsplit(".", 1)[0] + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
