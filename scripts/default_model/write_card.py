#!/usr/bin/env python3
"""Writes the model card (README.md) of the bundled default model from what the training run left in WORK:
the source cards, the compliance manifests' digests, the configuration, both stages' loss curves, the task score
and the validation perplexity.

usage: write_card.py --work WORK_DIR > WORK_DIR/model/README.md
"""
import argparse
import csv
import datetime
import glob
import json
import os
import platform
import re


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError:
        return default


def last_loss(csv_path):
    rows = list(csv.reader(open(csv_path))) if os.path.exists(csv_path) else []
    rows = [r for r in rows if r and r[0].isdigit()]
    if not rows:
        return None, 0
    tail = [float(r[1]) for r in rows[-20:]]
    return sum(tail) / len(tail), len(rows)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    w = ap.parse_args().work
    cfg = read_json(os.path.join(w, "model", "config.json"), {})
    h, L, V, I = cfg.get("hidden_size"), cfg.get("num_hidden_layers"), cfg.get("vocab_size"), cfg.get("intermediate_size")
    nq, nkv, hd = cfg.get("num_attention_heads"), cfg.get("num_key_value_heads"), cfg.get("head_dim")
    params = V * h + L * (h * nq * hd * 2 + h * nkv * hd * 2 + 3 * h * I + 2 * h + 2 * hd) + h
    size_mb = os.path.getsize(os.path.join(w, "model", "model.safetensors")) / 1e6
    pre = read_json(os.path.join(w, "pretrained", "training_data.json"), {})
    sft = read_json(os.path.join(w, "model", "training_data.json"), {})
    pre_loss, pre_steps = last_loss(os.path.join(w, "pretrained", "loss.csv"))
    sft_loss, sft_steps = last_loss(os.path.join(w, "model", "loss.csv"))
    ev = read_json(os.path.join(w, "eval.json"), {})
    ppl_text = open(os.path.join(w, "perplexity.txt")).read() if os.path.exists(os.path.join(w, "perplexity.txt")) else ""
    m = re.search(r"(?i)ppl[^0-9]*([0-9.]+)", ppl_text)
    ppl = m.group(1) if m else "n/a"
    cards = [read_json(p) for p in sorted(glob.glob(os.path.join(w, "corpus", "sources", "*", "source.json")))]
    cards.append(read_json(os.path.join(w, "sft-docs", "source.json")))
    layer_types = cfg.get("layer_types", [])

    out = []
    out.append("# exaone4-demo: the bundled default model\n")
    out.append("A small EXAONE-4.0-architecture model that **exaone.cpp trained itself** on this machine's CPU, on data "
               "that passed `exaone comply`. It answers simple requests in Korean and English within a narrow domain; "
               "it is a demonstration of the toolkit, not a general assistant.\n")
    out.append("## What it can and cannot do\n")
    out.append("* **Can:** greetings and small talk; addition and subtraction of whole numbers up to 999 and the "
               "multiplication table up to 12 × 12; the weekday after, before or *k* days after a given one; the "
               "month after or before, days in a month; conversions between km/m/cm/mm, kg/g, L/mL, hours/minutes/"
               "seconds for whole numbers; how to use exaone.cpp (chat, serve, convert, quantize, comply, train, "
               "bench); with thinking on (`/think on`, `--think`) it writes its steps first (column addition with "
               "carries, counting weekdays).")
    out.append("* **Cannot:** anything outside that domain: general knowledge, writing, translation, code, long "
               "conversations. Outside it, it says it cannot answer well (when it recognises the question) or "
               "produces fluent nonsense. Its arithmetic is not always right (see the score below). "
               "For real work, run a real EXAONE checkpoint with `-m`.\n")
    out.append("## Scores\n")
    if ev:
        out.append(f"* Task score: **exact match {ev['exact_match']:.3f}** ({ev['correct']}/{ev['questions']}) on "
                   "held-out generated questions (operand pairs, unit values, weekday offsets and phrasings that "
                   "training never saw), greedy decoding, each in its thinking mode "
                   "(`scripts/default_model/evaluate.py`). By category and language:\n")
        out.append("| category | exact |\n|---|---|")
        for k, (ok, n) in ev["by_category"].items():
            out.append(f"| {k} | {ok}/{n} |")
        out.append("")
    out.append(f"* Validation perplexity: **{ppl}** on the held-out chats rendered through the chat template "
               "(`exaone perplexity --ctx 256`; the whole text, prompts included).")
    if pre_loss is not None:
        out.append(f"* Training loss (mean of the last 20 steps): pretraining {pre_loss:.3f} after {pre_steps} steps; "
                   f"SFT {sft_loss:.3f} (assistant tokens) after {sft_steps} steps.\n")
    out.append("## Model\n")
    out.append(f"* EXAONE 4.0 (`Exaone4ForCausalLM`): {L} layers, hidden {h}, {nq} query / {nkv} KV heads of {hd}, "
               f"intermediate {I}, vocabulary {V}, tied embeddings; hybrid attention "
               f"({', '.join('S' if t.startswith('sliding') else 'G' for t in layer_types)}: sliding window "
               f"{cfg.get('sliding_window')} with RoPE, global layers NoPE), post-norm with q/k norms.")
    out.append(f"* {params / 1e6:.2f}M parameters, float32 ({size_mb:.1f} MB).")
    out.append("* Tokenizer: byte-level BPE, 4,096 tokens, learned by `exaone tokenizer-train` on the screened text "
               "with digits kept apart; EXAONE 4.0's pre-tokenizer, special tokens and official chat template.\n")
    out.append("## Training data\n")
    out.append("| source | licence | origin |\n|---|---|---|")
    for c in cards:
        if c:
            out.append(f"| {c['name']} | {c.get('license', '?')} | {c.get('origin', '')} |")
    out.append("")
    out.append("Every source passed `exaone comply scan` (personal data masked in the pretraining text; licences "
               "checked against the run's policy), and training read only the verified scan outputs:\n")
    for name, rec in (("pretraining corpus", pre), ("SFT chats", sft)):
        if rec:
            out.append(f"* {name}: {rec.get('documents')} documents, manifest digest (SHA-256 of manifest.sha256) "
                       f"`{rec.get('manifest_sha256')}`")
    faq = next((c for c in cards if c and c["name"] == "debian-faq-ko"), None)
    if faq:
        out.append(f"\nNotice of the Debian FAQ (debian-faq-ko): {faq['redistribution'][0]}\n")
    out.append("## How it was made\n")
    out.append("`bash scripts/train_default_model.sh WORK --install` reproduces it (the steps, seeds and settings are "
               "in that script): generated instruction set → compliance scans → tokenizer → pretraining "
               f"({pre_steps} steps of 8 × 256 tokens) → SFT ({sft_steps} steps of 16 chats, loss on the "
               "assistant's tokens only) → evaluation.")
    out.append(f"Trained on {datetime.date.today().isoformat()}, {cpu_name()}, with exaone.cpp's float32 trainer.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
