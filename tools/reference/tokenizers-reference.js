// Reference encodings from Hugging Face's own tokenizers library (the Rust implementation, via its Node
// binding), for the tokenizer fixtures the project trains. Run:
//   cd tools/reference && npm install tokenizers@0.23.2 && node tokenizers-reference.js ../../tests/OpenBook.Models.Tests/Fixtures/tokenizer
// or, for real checkpoints' tokenizers (one folder per model under DIR, see compare-real-tokenizers.sh):
//   node tokenizers-reference.js DIR extra-lines.txt ...
// Writes expected.json next to each fixture's tokenizer.json, and trainer-reference.json (HF BpeTrainer merges).
const fs = require('fs');
const path = require('path');
const { Tokenizer, BPE, byteLevelPreTokenizer } = require('tokenizers');

async function main() {
  const root = process.argv[2];
  const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'tokenizer-cases.json'), 'utf8'));
  // Optional: more cases, one per non-empty line of the given text files (for checks against real tokenizers).
  for (const extra of process.argv.slice(3))
    for (const line of fs.readFileSync(extra, 'utf8').split('\n')) if (line.trim()) cases.push(line);
  for (const dir of fs.readdirSync(root)) {
    const file = path.join(root, dir, 'tokenizer.json');
    if (!fs.existsSync(file)) continue;
    const tok = Tokenizer.fromFile(file);
    const out = [];
    for (const text of cases) {
      const withSpecial = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      const plain = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      out.push({
        text, ids: plain, idsWithSpecial: withSpecial,
        decoded: await tok.decode(withSpecial, false),
        decodedSkipSpecial: await tok.decode(withSpecial, true),
      });
    }
    fs.writeFileSync(path.join(root, dir, 'expected.json'), JSON.stringify(out, null, 1));
    console.log(`${dir}: ${out.length} cases`);
  }

  if (!fs.existsSync(path.join(root, 'corpus.txt'))) return;
  // HF BpeTrainer (default settings: vocab 30000, min_frequency 0, no initial alphabet) with a ByteLevel
  // pre-tokenizer on the first 4000 characters of corpus.txt, one sequence per line (line ending kept).
  const corpus = fs.readFileSync(path.join(root, 'corpus.txt'), 'utf8').slice(0, 4000);
  const tmp = path.join(require('os').tmpdir(), 'openbook-trainer-corpus.txt');
  fs.writeFileSync(tmp, corpus);
  const t = new Tokenizer(BPE.empty());
  t.setPreTokenizer(byteLevelPreTokenizer(false, true));
  t.train([tmp]);
  const saved = path.join(require('os').tmpdir(), 'openbook-trainer-out.json');
  t.save(saved);
  const model = JSON.parse(fs.readFileSync(saved, 'utf8')).model;
  fs.writeFileSync(path.join(root, 'trainer-reference.json'),
    JSON.stringify({ corpusChars: 4000, vocabSize: Object.keys(model.vocab).length, merges: model.merges }));
  console.log(`trainer: ${Object.keys(model.vocab).length} tokens, ${model.merges.length} merges`);
}
main().catch(e => { console.error(e); process.exit(1); });
