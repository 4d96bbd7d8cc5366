#!/usr/bin/env python3
"""Gives a random-weight benchmark checkpoint (`exaone make-model`) a tokenizer, so that the GGUF files
`exaone convert` writes from it load in llama.cpp too (llama.cpp refuses a GGUF without tokenizer metadata,
and its vocabulary must have one entry per embedding row).

The tokenizer is the test fixture's byte-level BPE (tests/fixtures/tokenizers/exaone4) with the
vocabulary padded by unused tokens up to the model's vocab_size; prompts tokenize as with the fixture.

    python3 scripts/bench_tokenizer.py models/exaone4-1.2b-bench
"""
import json
import os
import shutil
import sys


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    folder = sys.argv[1]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    fixture = os.path.join(root, "tests", "fixtures", "tokenizers", "exaone4")
    cfg = json.load(open(os.path.join(folder, "config.json")))
    vocab_size = int(cfg.get("text_config", cfg)["vocab_size"])
    tok = json.load(open(os.path.join(fixture, "tokenizer.json")))
    used = set(tok["model"]["vocab"].values()) | {a["id"] for a in tok["added_tokens"]}
    if max(used) >= vocab_size:
        print(f"error: {folder}: vocab_size {vocab_size} is smaller than the fixture tokenizer's ids", file=sys.stderr)
        return 2
    for i in range(vocab_size):
        if i not in used:
            tok["model"]["vocab"][f"<unused_{i}>"] = i
    out = os.path.join(folder, "tokenizer.json")
    with open(out + ".tmp", "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    os.replace(out + ".tmp", out)
    shutil.copy(os.path.join(fixture, "tokenizer_config.json"), os.path.join(folder, "tokenizer_config.json"))
    print(f"wrote {out}: {vocab_size} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
