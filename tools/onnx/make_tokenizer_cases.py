#!/usr/bin/python3
"""Writes tests/fixtures/encoders/tokenizer-cases.json: token ids of awkward strings (CJK, emoji, control and
zero-width characters, accents, combining marks, Unicode punctuation, over-long words) computed by the reference
BERT BasicTokenizer + WordPiece of make_tiny_encoder.py, for the uncased tiny-bert and the cased tiny-bert-cls vocabularies.

Usage: /usr/bin/python3 tools/onnx/make_tokenizer_cases.py tests/fixtures/encoders
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_encoder import encode_single  # noqa: E402

CASES = [
    "中文字符 mixed with English",
    "I \u2764\ufe0f \U0001F98A emoji and \U0001F600!",
    "zero\u200bwidth soft\u00adhyphen nul\u0000char bom\ufeff",
    "ÀÉÎÕÜ ñ Ångström façade",
    "a\u0301 combining e\u0300 marks",
    "don't stop\u2014now\u2026 \u00abquoted\u00bb \u201csmart\u201d",
    "tab\tseparated\r\nlines\u00a0nbsp\u3000ideographic space",
    "ＡＢＣ full-width ｄｅｆ",
    "Σίσυφος Ελληνικά",
    "İstanbul ǅemal ß",
    "x" * 120 + " after a very long word",
    "[CLS] literal [SEP] markers [UNK]",
    "C++ & C# vs. F#; a_b a-b a/b (paren) {brace} <angle> $5 %20 ^caret ~tilde `tick` |pipe|",
    "",
]


def main(root):
    out = {}
    for name, lower in (("tiny-bert", True), ("tiny-bert-cls", False)):
        with open(os.path.join(root, name, "tokenizer.json"), encoding="utf-8") as f:
            vocab = json.load(f)["model"]["vocab"]
        out[name] = [{"text": t, "ids": encode_single(t, vocab, lower, 512)} for t in CASES]
    with open(os.path.join(root, "tokenizer-cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=1)
    print("wrote", os.path.join(root, "tokenizer-cases.json"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
