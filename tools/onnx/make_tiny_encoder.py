#!/usr/bin/python3
"""Builds small BERT-architecture sentence encoders / cross-encoders in Hugging Face + sentence-transformers layout,
with random weights, as real ONNX graphs (torch.onnx.export of the BERT module below), plus reference outputs.

No pretrained encoder can be downloaded in this environment, so OpenBook's ONNX pipeline is checked against these:
the script computes token ids with a plain-Python port of BERT's BasicTokenizer + WordPiece, runs the same torch
module that was exported, and writes the pooled / normalised vectors (and cross-encoder scores) to reference.json.

Usage (Debian python: numpy, torch 1.13, onnx 1.12):
  /usr/bin/python3 tools/onnx/make_tiny_encoder.py fixtures  OUT_ROOT      # tests/fixtures/encoders/*
  /usr/bin/python3 tools/onnx/make_tiny_encoder.py minilm    OUT_DIR [--int8]  # MiniLM-L6 shape, random weights (bench)

int8: onnxruntime's Python quantizer is not available here, so `quantize_dynamic_int8` rewrites the fp32 graph the
same way ORT's dynamic quantization does: every MatMul with a constant 2-D weight becomes
DynamicQuantizeLinear(activation) -> MatMulInteger(uint8 x int8, per-output-column weight scales) -> Cast -> Mul.
"""
import json
import math
import os
import sys
import unicodedata

import numpy as np
import torch
from torch import nn
import onnx
from onnx import helper, numpy_helper, TensorProto

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

SAMPLE_TEXT = """
OpenBook adapts a language model to an organisation's own knowledge: retrieval augmented generation with citations,
fine-tuning with low rank adapters, and retrieval augmented fine-tuning. Documents are loaded, split into chunks,
indexed with BM25 and dense vectors, and searched with hybrid reciprocal rank fusion. The encoder turns every chunk
into a vector; the query is embedded the same way and compared with cosine similarity. Teams build internal
assistants for support, engineering, finance and legal questions. The quick brown fox jumps over the lazy dog.
How do I reset my password? Where is the holiday policy? What is the refund period for annual plans?
The server returns an error when the token has expired. Install the package, run the command, read the report.
"""

SENTENCES = [
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "OpenBook indexes documents with BM25 and dense vectors.",
    "Café naïve résumé: accents are stripped when lower-casing.",
    "Unknownwords like zyxwvut or €5 ∑ become pieces or [UNK].",
    "Numbers 42, 3.14 and 2026-11-24 split on punctuation!",
    "retrieval",
    "What is the refund period for annual plans? The refund period is thirty days for every annual plan, and "
    "monthly plans can be cancelled at any time from the billing page of the organisation settings.",
    "  Extra   whitespace\tand\nnewlines  ",
    "Hybrid search fuses lexical and dense rankings.",
]

PAIRS = [
    ("How do I reset my password?", "Open the settings page and choose reset password to get a new one."),
    ("How do I reset my password?", "The quick brown fox jumps over the lazy dog."),
    ("What is the refund period?", "The refund period for annual plans is thirty days."),
    ("What is the refund period?", "Install the package, run the command, read the report."),
    ("hybrid search", "Hybrid search fuses BM25 and dense vector rankings with reciprocal rank fusion."),
]


# ----------------------------------------------------------------------------------------------------------------
# Reference tokenizer: BERT BasicTokenizer + WordPiece (same rules as google-research/bert tokenization.py)
# ----------------------------------------------------------------------------------------------------------------
def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch):
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lower):
    text = "".join(" " if _is_whitespace(c) else c for c in text if not (ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c)))
    text = "".join(f" {c} " if _is_cjk(c) else c for c in text)  # tokenize_chinese_chars
    words = []
    for tok in text.split():
        if lower:
            tok = tok.lower()
            tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in tok:
            if _is_punct(c):
                if cur:
                    words.append(cur)
                    cur = ""
                words.append(c)
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def tokenize(text, vocab, lower):
    return [vocab[p] for w in basic_tokenize(text, lower) for p in wordpiece(w, vocab)]


def encode_single(text, vocab, lower, max_len):
    ids = tokenize(text, vocab, lower)[: max_len - 2]
    return [vocab["[CLS]"]] + ids + [vocab["[SEP]"]]


def encode_pair(a, b, vocab, lower, max_len):
    ia, ib = tokenize(a, vocab, lower), tokenize(b, vocab, lower)
    while len(ia) + len(ib) > max_len - 3:  # HF 'longest_first' truncation
        if len(ia) > len(ib):
            ia.pop()
        else:
            ib.pop()
    ids = [vocab["[CLS]"]] + ia + [vocab["[SEP]"]] + ib + [vocab["[SEP]"]]
    types = [0] * (len(ia) + 2) + [1] * (len(ib) + 1)
    return ids, types


def build_vocab(size=None, lower=True):
    """Specials, ASCII punctuation, letters/digits and their ## forms, common suffixes, then words of the sample."""
    toks = list(SPECIALS)
    text = SAMPLE_TEXT if not lower else SAMPLE_TEXT.lower()
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper() or not lower]
    toks += chars
    toks += ["##" + c for c in chars if c.isalnum()]
    toks += ["##s", "##ing", "##ed", "##er", "##ly", "##ion", "##es", "##al", "##ment", "##word", "##ization"]
    seen = set(toks)
    for w in basic_tokenize(text, lower):
        if w not in seen and len(w) > 1:
            toks.append(w)
            seen.add(w)
    toks = list(dict.fromkeys(toks))  # drop duplicates (e.g. '##s' is both a letter piece and a suffix)
    if size:  # pad to a realistic vocabulary size with synthetic pieces
        i = 0
        while len(toks) < size:
            toks.append(f"[unused{i}]")
            i += 1
    return {t: i for i, t in enumerate(toks)}


# ----------------------------------------------------------------------------------------------------------------
# BERT module (names follow HF BertModel) and export
# ----------------------------------------------------------------------------------------------------------------
class Layer(nn.Module):
    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.attn_out, self.attn_norm = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.intermediate, self.output, self.out_norm = nn.Linear(h, inter), nn.Linear(inter, h), nn.LayerNorm(h, eps=1e-12)

    def forward(self, x, bias):
        b, s, h = x.shape
        d = h // self.heads
        split = lambda t: t.view(b, s, self.heads, d).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, s, h)
        x = self.attn_norm(x + self.attn_out(ctx))
        return self.out_norm(x + self.output(nn.functional.gelu(self.intermediate(x))))


class Bert(nn.Module):
    def __init__(self, vocab, h, layers, heads, inter, max_pos, classifier=False):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, h)
        self.position_embeddings = nn.Embedding(max_pos, h)
        self.token_type_embeddings = nn.Embedding(2, h)
        self.norm = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList([Layer(h, heads, inter) for _ in range(layers)])
        self.classifier = classifier
        if classifier:
            self.pooler, self.head = nn.Linear(h, h), nn.Linear(h, 1)
        for name, p in self.named_parameters():  # random init, wider than BERT's so pooled vectors differ clearly
            if p.dim() > 1:
                nn.init.normal_(p, std=0.2)
            elif "norm" in name and name.endswith("weight"):
                nn.init.normal_(p, mean=1.0, std=0.1)
            else:
                nn.init.normal_(p, std=0.05)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        s = input_ids.shape[1]
        pos = torch.arange(s, dtype=torch.long).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos)
        if token_type_ids is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        else:
            x = x + self.token_type_embeddings.weight[0]
        x = self.norm(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        if self.classifier:
            return self.head(torch.tanh(self.pooler(x[:, 0])))
        return x


def export(model, path, token_types=True, output="last_hidden_state"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_types else [])
    args = (ids, mask, torch.zeros_like(ids)) if token_types else (ids, mask)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[output] = {0: "batch", 1: "sequence"} if output == "last_hidden_state" else {0: "batch"}
    torch.onnx.export(model, args, path, input_names=names, output_names=[output], dynamic_axes=axes, opset_version=14)


def quantize_dynamic_int8(src, dst):
    """Dynamic int8 quantization of every MatMul whose B input is a constant 2-D weight (per-column scales)."""
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes, new_inits = [], []
    for n in g.node:
        if n.op_type != "MatMul" or n.input[1] not in inits or len(inits[n.input[1]].dims) != 2:
            nodes.append(n)
            continue
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / 127.0
        wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        p = n.name or n.output[0]
        new_inits += [numpy_helper.from_array(wq, p + "_Wq"), numpy_helper.from_array(scale.astype(np.float32), p + "_Wscale"),
                      numpy_helper.from_array(np.zeros(w.shape[1], np.int8), p + "_Wzp")]
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [n.input[0]], [p + "_Aq", p + "_Ascale", p + "_Azp"], name=p + "_dql"),
            helper.make_node("MatMulInteger", [p + "_Aq", p + "_Wq", p + "_Azp", p + "_Wzp"], [p + "_i32"], name=p + "_mmi"),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT, name=p + "_cast"),
            helper.make_node("Mul", [p + "_Ascale", p + "_Wscale"], [p + "_scale"], name=p + "_scalemul"),
            helper.make_node("Mul", [p + "_f", p + "_scale"], [n.output[0]], name=p + "_out"),
        ]
    used = {i for n in nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


# ----------------------------------------------------------------------------------------------------------------
# HF / sentence-transformers files
# ----------------------------------------------------------------------------------------------------------------
def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def write_tokenizer(d, vocab, lower, max_len, vocab_txt=True):
    if vocab_txt:
        with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
            for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
                f.write(t + "\n")
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in SPECIALS]
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    write_json(os.path.join(d, "tokenizer.json"), {
        "version": "1.0", "truncation": {"direction": "Right", "max_length": max_len, "strategy": "LongestFirst", "stride": 0},
        "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": lower},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
    })
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "do_lower_case": lower, "model_max_length": max_len, "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]",
        "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"})
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"})


def write_config(d, cfg, classifier=False):
    c = {"architectures": ["BertForSequenceClassification" if classifier else "BertModel"], "model_type": "bert",
         "vocab_size": cfg["vocab"], "hidden_size": cfg["h"], "num_hidden_layers": cfg["layers"],
         "num_attention_heads": cfg["heads"], "intermediate_size": cfg["inter"], "hidden_act": "gelu",
         "max_position_embeddings": cfg["max_pos"], "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0}
    if classifier:
        c["id2label"], c["label2id"] = {"0": "LABEL_0"}, {"LABEL_0": 0}
    write_json(os.path.join(d, "config.json"), c)


def write_st(d, h, pooling, normalize, max_len, lower):
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(d, "modules.json"), modules)
    write_json(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": max_len, "do_lower_case": False})
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": h, "pooling_mode_cls_token": pooling == "cls", "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": pooling == "max", "pooling_mode_mean_sqrt_len_tokens": False})


def pool(hidden, mask, mode):
    m = mask[:, :, None].astype(np.float64)
    h = hidden.astype(np.float64)
    if mode == "cls":
        return h[:, 0]
    if mode == "max":
        return np.where(m > 0, h, -1e9).max(axis=1)
    return (h * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


def l2(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def run_one(model, ids, types=None):
    t = torch.tensor([ids])
    with torch.no_grad():
        out = model(t, torch.ones_like(t), torch.tensor([types]) if types is not None else (torch.zeros_like(t) if model_has_types(model) else None))
    return out.numpy()[0]


def model_has_types(model):
    return getattr(model, "_with_types", True)


# ----------------------------------------------------------------------------------------------------------------
def make_fixtures(root):
    torch.manual_seed(1234)
    max_len = 32
    tiny = dict(h=32, layers=2, heads=4, inter=64, max_pos=64)

    # 1) tiny-bert: uncased, mean pooling + Normalize, token_type_ids input, onnx/model.onnx (+ int8), vocab.txt + tokenizer.json
    d = os.path.join(root, "tiny-bert")
    vocab = build_vocab(lower=True)
    cfg = dict(tiny, vocab=len(vocab))
    model = Bert(cfg["vocab"], cfg["h"], cfg["layers"], cfg["heads"], cfg["inter"], cfg["max_pos"]).eval()
    export(model, os.path.join(d, "onnx", "model.onnx"))
    quantize_dynamic_int8(os.path.join(d, "onnx", "model.onnx"), os.path.join(d, "onnx", "model_quantized.onnx"))
    write_tokenizer(d, vocab, True, max_len)
    write_config(d, cfg)
    write_st(d, cfg["h"], "mean", True, max_len, True)
    ref = {"max_seq_length": max_len, "sentences": []}
    for s in SENTENCES:
        ids = encode_single(s, vocab, True, max_len)
        hidden = run_one(model, ids)[None]
        mask = np.ones((1, len(ids)))
        mean = pool(hidden, mask, "mean")[0]
        ref["sentences"].append({"text": s, "ids": ids, "mean_normalized": l2(mean).tolist(), "mean": mean.tolist(),
                                 "cls": pool(hidden, mask, "cls")[0].tolist(), "max": pool(hidden, mask, "max")[0].tolist()})
    write_json(os.path.join(d, "reference.json"), ref)

    # 2) tiny-bert-cls: cased, CLS pooling, no Normalize, no token_type_ids input, model.onnx at the root, tokenizer.json only
    d = os.path.join(root, "tiny-bert-cls")
    vocab = build_vocab(lower=False)
    cfg = dict(tiny, vocab=len(vocab))
    model = Bert(cfg["vocab"], cfg["h"], cfg["layers"], cfg["heads"], cfg["inter"], cfg["max_pos"]).eval()
    model._with_types = False
    export(model, os.path.join(d, "model.onnx"), token_types=False)
    write_tokenizer(d, vocab, False, max_len, vocab_txt=False)
    write_config(d, cfg)
    write_st(d, cfg["h"], "cls", False, max_len, False)
    ref = {"max_seq_length": max_len, "query_prefix": "query: ", "passage_prefix": "passage: ", "sentences": []}
    for s in SENTENCES[:5]:
        e = {"text": s}
        for kind, prefix in (("plain", ""), ("query", "query: "), ("passage", "passage: ")):
            ids = encode_single(prefix + s, vocab, False, max_len)
            e[kind + "_ids"] = ids
            e[kind + "_cls"] = run_one(model, ids)[0].tolist()
        ref["sentences"].append(e)
    write_json(os.path.join(d, "reference.json"), ref)

    # 3) tiny-cross-encoder: BertForSequenceClassification-style (pooler + 1 logit), pair input with token types
    d = os.path.join(root, "tiny-cross-encoder")
    vocab = build_vocab(lower=True)
    cfg = dict(tiny, vocab=len(vocab))
    model = Bert(cfg["vocab"], cfg["h"], cfg["layers"], cfg["heads"], cfg["inter"], cfg["max_pos"], classifier=True).eval()
    export(model, os.path.join(d, "onnx", "model.onnx"), output="logits")
    write_tokenizer(d, vocab, True, max_len)
    write_config(d, cfg, classifier=True)
    ref = {"max_length": max_len, "pairs": []}
    for q, p in PAIRS:
        ids, types = encode_pair(q, p, vocab, True, max_len)
        ref["pairs"].append({"query": q, "passage": p, "ids": ids, "token_type_ids": types,
                             "logit": float(run_one(model, ids, types)[0])})
    write_json(os.path.join(d, "reference.json"), ref)


def make_minilm(d, int8):
    """all-MiniLM-L6-v2 shape (hidden 384, 6 layers, 12 heads, FFN 1536, vocab 30522) with random weights."""
    torch.manual_seed(7)
    vocab = build_vocab(size=30522, lower=True)
    cfg = dict(vocab=len(vocab), h=384, layers=6, heads=12, inter=1536, max_pos=512)
    model = Bert(cfg["vocab"], cfg["h"], cfg["layers"], cfg["heads"], cfg["inter"], cfg["max_pos"]).eval()
    export(model, os.path.join(d, "onnx", "model.onnx"))
    if int8:
        quantize_dynamic_int8(os.path.join(d, "onnx", "model.onnx"), os.path.join(d, "onnx", "model_quantized.onnx"))
    write_tokenizer(d, vocab, True, 256)
    write_config(d, cfg)
    write_st(d, cfg["h"], "mean", True, 256, True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("fixtures", "minilm"):
        sys.exit(__doc__)
    if sys.argv[1] == "fixtures":
        make_fixtures(sys.argv[2])
    else:
        make_minilm(sys.argv[2], "--int8" in sys.argv[3:])
    print("wrote", sys.argv[2])
