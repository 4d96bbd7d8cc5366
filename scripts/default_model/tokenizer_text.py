#!/usr/bin/env python3
"""The text the default model's tokenizer is learned on: the kept documents of the screened pretraining corpus and
the messages of the screened chat examples, with a space put between adjacent digits so that no merge joins two
digits (numbers are then read digit by digit, which a small model needs to learn arithmetic).

usage: tokenizer_text.py SCREENED_CORPUS_DIR SCREENED_SFT_DIR OUT.txt
"""
import glob
import json
import os
import re
import sys


def docs(screened):
    for shard in sorted(glob.glob(os.path.join(screened, "data", "shard-*.jsonl"))):
        with open(shard, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)["text"]


def split_digits(text):
    return re.sub(r"\d{2,}", lambda m: " ".join(m.group(0)), text)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    corpus, sft, out = sys.argv[1:]
    with open(out, "w", encoding="utf-8") as g:
        for text in docs(corpus):
            g.write(split_digits(text) + "\n")
        for text in docs(sft):
            for m in json.loads(text)["messages"]:
                for key in ("content", "reasoning_content"):
                    if m.get(key):
                        g.write(split_digits(m[key]) + "\n")


if __name__ == "__main__":
    main()
