#!/usr/bin/env python3
"""Renders the held-out chat examples (valid.jsonl) through the model's own chat template (`exaone template`) and
prints them as one text, for `exaone perplexity`: the validation perplexity of the model card.

usage: valid_text.py VALID.jsonl MODEL_DIR EXAONE_BINARY > valid.txt
"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    valid, model, exaone = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "request.json")
        for line in open(valid, encoding="utf-8"):
            if not line.strip():
                continue
            e = json.loads(line)
            with open(req, "w", encoding="utf-8") as f:
                json.dump({"messages": e["messages"], "add_generation_prompt": False,
                           "chat_template_kwargs": {"skip_think": not e.get("enable_thinking", False)}}, f,
                          ensure_ascii=False)
            r = subprocess.run([exaone, "template", "-m", model, "--request", req, "--json"], capture_output=True,
                               text=True)
            if r.returncode != 0:
                sys.exit(f"valid_text: exaone template failed: {r.stderr.strip()}")
            sys.stdout.write(json.loads(r.stdout)["prompt"])


if __name__ == "__main__":
    main()
