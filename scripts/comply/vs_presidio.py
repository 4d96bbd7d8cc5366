#!/usr/bin/env python3
"""`exaone comply` next to Microsoft Presidio Analyzer on the project's labelled eval set (a
benchmark, not a test; the table is in docs/comply.md, section "Next to Presidio").

    pip install presidio-analyzer spacy ./python
    python scripts/comply/vs_presidio.py [--eval tests/fixtures/comply/eval_set.jsonl] [--procs 2]

Presidio is configured as its documentation describes, without downloading anything:
  * the NLP engine is a blank spaCy pipeline saved to a temporary folder (no NER model, so its
    PERSON/LOCATION recogniser finds nothing; pattern recognisers do not need one);
  * its default recognisers for English, with the phone recogniser's regions set to KR and US;
  * its Korean recognisers (KR_RRN, KR_FRN, KR_BRN, KR_PASSPORT, KR_DRIVER_LICENSE) registered for
    the same language, since the documents mix Korean and English;
  * two PatternRecognizers of our own for Korean types it lacks, with context words: bank
    accounts (계좌, 입금, 은행 ...) and postal codes (우편번호).
Entities map onto our types (PHONE_NUMBER -> phone, CREDIT_CARD -> card, ...); entities with no
counterpart (DATE_TIME, URL, crypto wallets ...) are counted apart and ignored. A prediction is
correct when it overlaps a labelled span of the same type (each label counts once); both tools
are scored the same way. Presidio is scored at its default score threshold (0: every result)
and at 0.5. MB/s: the eval texts' UTF-8 bytes per wall second, Presidio in --procs processes,
exaone_comply.detect_batch on --procs threads over the set repeated 50 times (once takes a few
milliseconds); start-up excluded.
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Presidio's e-mail recogniser uses tldextract, which would fetch the public suffix list; an
# empty URL list makes it use the snapshot it ships (read when it is imported).
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

ENTITY_TYPE = {
    "PHONE_NUMBER": "phone", "EMAIL_ADDRESS": "email", "CREDIT_CARD": "card", "IP_ADDRESS": "ip",
    "KR_RRN": "rrn", "KR_FRN": "frn", "KR_BRN": "brn", "KR_PASSPORT": "passport",
    "KR_DRIVER_LICENSE": "driver_license", "PERSON": "person_name", "LOCATION": "address",
    "US_BANK_NUMBER": "bank_account", "IBAN_CODE": "bank_account", "KR_BANK_ACCOUNT": "bank_account",
    "KR_POSTAL_CODE": "postal_code",
}

_analyzer = None


def build_analyzer(model_dir):
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (KrBrnRecognizer, KrDriverLicenseRecognizer,
                                                          KrFrnRecognizer, KrPassportRecognizer, KrRrnRecognizer,
                                                          PhoneRecognizer)

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_dir}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    registry.remove_recognizer("PhoneRecognizer")
    registry.add_recognizer(PhoneRecognizer(supported_regions=("KR", "US"), supported_language="en"))
    for cls in (KrRrnRecognizer, KrFrnRecognizer, KrBrnRecognizer, KrPassportRecognizer, KrDriverLicenseRecognizer):
        registry.add_recognizer(cls(supported_language="en"))
    registry.add_recognizer(PatternRecognizer(
        supported_entity="KR_BANK_ACCOUNT", supported_language="en",
        patterns=[Pattern("kr_bank_account", r"(?<!\d)\d{2,6}-\d{2,6}-\d{2,7}(?:-\d{1,3})?(?!\d)", 0.2),
                  Pattern("kr_bank_account_bare", r"(?<!\d)\d{10,14}(?!\d)", 0.1)],
        context=["계좌", "계좌번호", "입금", "은행", "예금주", "account", "bank"]))
    registry.add_recognizer(PatternRecognizer(
        supported_entity="KR_POSTAL_CODE", supported_language="en",
        patterns=[Pattern("kr_postal", r"(?<!\d)\d{5}(?!\d)", 0.05)], context=["우편번호", "postal", "zip"]))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def _init(model_dir):
    global _analyzer
    _analyzer = build_analyzer(model_dir)


def _analyze(text):
    return [(r.entity_type, r.start, r.end, r.score) for r in _analyzer.analyze(text=text, language="en")]


def char_to_byte(text):
    out, b = [], 0
    for ch in text:
        out.append(b)
        b += len(ch.encode())
    out.append(b)
    return out


def score(docs, predictions):
    """Per type: labels, predictions, true positives (overlap, same type; a label counts once)."""
    labels_n, pred_n, tp_pred, tp_label = Counter(), Counter(), Counter(), Counter()
    for d, preds in zip(docs, predictions):
        labels = d["labels"]
        used = set()
        for lab in labels:
            labels_n[lab["type"]] += 1
        for t, s, e in preds:
            pred_n[t] += 1
            hit = None
            for i, lab in enumerate(labels):
                if lab["type"] == t and lab["start"] < e and s < lab["end"]:
                    hit = i
                    if i not in used:
                        break
            if hit is not None:
                tp_pred[t] += 1
                if hit not in used:
                    used.add(hit)
                    tp_label[t] += 1
    return labels_n, pred_n, tp_pred, tp_label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default=str(ROOT / "tests/fixtures/comply/eval_set.jsonl"))
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    import spacy
    from importlib.metadata import version

    import exaone_comply as ec

    docs = [json.loads(l) for l in Path(a.eval).read_text(encoding="utf-8").splitlines() if l.strip()]
    texts = [d["text"] for d in docs]
    nbytes = sum(len(t.encode()) for t in texts)

    cols = ec.detect_batch(texts, threads=a.procs)
    t0 = time.perf_counter()
    ec.detect_batch(texts * 50, threads=a.procs)
    t_ex = (time.perf_counter() - t0) / 50
    ours = [[] for _ in docs]
    for i, t, s, e in zip(cols["doc"], cols["type"], cols["start"], cols["end"]):
        ours[int(i)].append((t, int(s), int(e)))

    with tempfile.TemporaryDirectory() as tmp:
        spacy.blank("en").to_disk(tmp)
        with mp.get_context("fork").Pool(a.procs, initializer=_init, initargs=(tmp,)) as pool:
            pool.map(_analyze, texts[:a.procs * 2])  # warm-up: recognisers compiled in every process
            t0 = time.perf_counter()
            raw = pool.map(_analyze, texts, chunksize=8)
            t_pr = time.perf_counter() - t0

    unmapped = Counter()
    theirs = {0.0: [], 0.5: []}
    for text, res in zip(texts, raw):
        c2b = char_to_byte(text)
        for th in theirs:
            theirs[th].append([(ENTITY_TYPE[et], c2b[s], c2b[e]) for et, s, e, sc in res
                               if et in ENTITY_TYPE and sc >= th])
        unmapped.update(et for et, *_ in res if et not in ENTITY_TYPE)

    results = {"exaone": score(docs, ours), "presidio": score(docs, theirs[0.0]),
               "presidio@0.5": score(docs, theirs[0.5])}
    types = sorted(results["exaone"][0])

    def pr(r, t=None):
        ln, pn, tpp, tpl = r
        if t is None:
            ln, pn, tpp, tpl = (Counter({"x": sum(c.values())}) for c in r)
            t = "x"
        p = f"{tpp[t] / pn[t]:.3f}" if pn[t] else "–"
        rec = f"{tpl[t] / ln[t]:.3f}" if ln[t] else "–"
        return p, rec

    print(f"eval set: {len(docs)} documents, {nbytes / 1e3:.0f} KB, {sum(results['exaone'][0].values())} labels; "
          f"presidio-analyzer {version('presidio-analyzer')}, "
          f"spaCy {spacy.__version__}, {a.procs} processes/threads, load {os.getloadavg()[0]:.1f}")
    print("| type | labels | exaone P | exaone R | Presidio P | Presidio R | Presidio P (≥0.5) | Presidio R (≥0.5) |")
    print("|---|---|---|---|---|---|---|---|")
    for t in types + [None]:
        row = [t or "**overall**", str(results["exaone"][0][t] if t else sum(results["exaone"][0].values()))]
        for k in ("exaone", "presidio", "presidio@0.5"):
            row += pr(results[k], t)
        print("| " + " | ".join(row) + " |")
    print(f"\nMB/s: exaone {nbytes / 1e6 / t_ex:.1f}, Presidio {nbytes / 1e6 / t_pr:.2f} "
          f"({t_ex:.3f} s vs {t_pr:.1f} s)")
    print("Presidio entities with no counterpart (ignored):", dict(unmapped.most_common()))


if __name__ == "__main__":
    main()
