#!/usr/bin/python3
"""Renders the chat-template fixtures with real Jinja2, configured like transformers' apply_chat_template
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, tojson with ensure_ascii=False, raise_exception).
Writes expected.json next to the templates. Needs Debian's python3-jinja2:
    apt-get install python3-jinja2 && /usr/bin/python3 tools/reference/chat-templates-reference.py tests/OpenBook.Models.Tests/Fixtures/chat_templates
"""
import json, os, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError

def raise_exception(message):
    raise TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
# strftime_now pinned to 26 Jul 2024 so Llama-3.2's "Today Date" is reproducible (the C# test pins the same date).
env.globals["strftime_now"] = lambda fmt: __import__("datetime").datetime(2024, 7, 26).strftime(fmt)

root = sys.argv[1]
convs = json.load(open(os.path.join(root, "conversations.json"), encoding="utf-8"))
specials = {"bos_token": "<s>", "eos_token": "</s>"}
out = {}
for name in sorted(os.listdir(root)):
    if not name.endswith(".jinja"):
        continue
    template = env.from_string(open(os.path.join(root, name), encoding="utf-8").read())
    family = name[:-len(".jinja")]
    out[family] = {conv: template.render(**specials, **args) for conv, args in convs.items()}
json.dump({"specials": specials, "rendered": out}, open(os.path.join(root, "expected.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print("rendered", sum(len(v) for v in out.values()), "cases with jinja2", __import__("jinja2").__version__)
