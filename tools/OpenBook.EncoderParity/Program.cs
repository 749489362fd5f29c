// Encoder parity fixtures: HF tokenizers (the reference tokenizer) + ONNX Runtime + sentence-transformers mean pooling.
//
//   dotnet run --project tools/OpenBook.EncoderParity -- [--out tests/fixtures/encoders/parity] [--vectors 40]
//
// 1. Materialises the built-in MiniLM (OpenBook.Onnx.BuiltInEncoders) and writes a tokenizer.json equivalent to its
//    vocab.txt + tokenizer_config.json: BertNormalizer (lowercase, accents stripped, CJK split, control chars cleaned),
//    BertPreTokenizer, WordPiece (##, [UNK], 100 chars per word), [CLS] $A [SEP], right truncation at 256.
// 2. Builds 300 varied texts (handbook passages and questions, accents, CJK, Greek, emoji, tabs, numbers, > 256 tokens,
//    literal [CLS]/[SEP]), deterministic.
// 3. Token ids of every text from HF tokenizers; reference vectors of the first --vectors texts from ONNX Runtime run
//    directly on those ids (batch of one, no padding) and mean pooling + L2 normalisation written out here.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using OpenBook.Onnx;

string outDir = "tests/fixtures/encoders/parity";
int vectorCount = 40;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--out") outDir = args[++i];
    else if (args[i] == "--vectors") vectorCount = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else { Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2; }
}
var root = FindRoot();
var work = Path.Combine(Path.GetTempPath(), "openbook-parity");
var model = BuiltInEncoders.Materialize(BuiltInEncoders.MiniLM, false, work);
var vocab = File.ReadAllLines(Path.Combine(model.Directory, "vocab.txt"));
var tokenizerJson = Path.Combine(work, "tokenizer.json");
File.WriteAllText(tokenizerJson, TokenizerJson(vocab, 256));

var texts = Texts(root);
using var hf = new Tokenizers.DotNet.Tokenizer(tokenizerJson);
using var session = new InferenceSession(Path.Combine(model.Directory, "onnx", "model.onnx"), new SessionOptions { IntraOpNumThreads = 2 });
var items = new JsonArray();
for (int i = 0; i < texts.Count; i++)
{
    var ids = hf.Encode(texts[i]).Select(x => (int)x).ToArray();
    var item = new JsonObject { ["text"] = texts[i], ["ids"] = new JsonArray(ids.Select(x => (JsonNode)x).ToArray()) };
    if (i < vectorCount)
        item["vector"] = new JsonArray(MeanPooled(session, ids).Select(v => (JsonNode)JsonValue.Create(v)).ToArray());
    items.Add(item);
}
var doc = new JsonObject
{
    ["description"] = "Reference token ids (HF tokenizers via Tokenizers.DotNet 1.4.1, tokenizer.json built from the MiniLM vocab) and vectors " +
                      "(ONNX Runtime on those ids, mean pooling, L2 normalisation) for the built-in minilm; made by tools/OpenBook.EncoderParity.",
    ["model"] = BuiltInEncoders.MiniLM.HubId,
    ["modelSha256"] = BuiltInEncoders.MiniLM.ModelSha256,
    ["maxLength"] = 256,
    ["texts"] = items,
};
Directory.CreateDirectory(Path.Combine(root, outDir));
var path = Path.Combine(root, outDir, "minilm-hf-reference.json");
File.WriteAllText(path, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
Console.WriteLine($"{texts.Count} texts, {vectorCount} vectors -> {path}");
return 0;

static string FindRoot()
{
    for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
        if (File.Exists(Path.Combine(d.FullName, "OpenBook.sln"))) return d.FullName;
    throw new DirectoryNotFoundException("run inside the OpenBook checkout");
}

// The tokenizer.json HF writes for a BertTokenizerFast with do_lower_case=True, tokenize_chinese_chars=True,
// strip_accents=None (accents stripped because lowercase is on), special tokens as in vocab.txt.
static string TokenizerJson(string[] vocab, int maxLength)
{
    var ids = new JsonObject();
    for (int i = 0; i < vocab.Length; i++) ids[vocab[i]] = i;
    JsonObject Added(string token) => new()
    {
        ["id"] = Array.IndexOf(vocab, token), ["content"] = token, ["single_word"] = false, ["lstrip"] = false,
        ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
    };
    JsonObject Special(string t) => new() { ["SpecialToken"] = new JsonObject { ["id"] = t, ["type_id"] = 0 } };
    JsonObject Seq(string s, int type) => new() { ["Sequence"] = new JsonObject { ["id"] = s, ["type_id"] = type } };
    var json = new JsonObject
    {
        ["version"] = "1.0",
        ["truncation"] = new JsonObject { ["direction"] = "Right", ["max_length"] = maxLength, ["strategy"] = "LongestFirst", ["stride"] = 0 },
        ["padding"] = null,
        ["added_tokens"] = new JsonArray(Added("[PAD]"), Added("[UNK]"), Added("[CLS]"), Added("[SEP]"), Added("[MASK]")),
        ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true },
        ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
        ["post_processor"] = new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(Special("[CLS]"), Seq("A", 0), Special("[SEP]")),
            ["pair"] = new JsonArray(Special("[CLS]"), Seq("A", 0), Special("[SEP]"), Seq("B", 1), new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "[SEP]", ["type_id"] = 1 } }),
            ["special_tokens"] = new JsonObject
            {
                ["[CLS]"] = new JsonObject { ["id"] = "[CLS]", ["ids"] = new JsonArray(Array.IndexOf(vocab, "[CLS]")), ["tokens"] = new JsonArray("[CLS]") },
                ["[SEP]"] = new JsonObject { ["id"] = "[SEP]", ["ids"] = new JsonArray(Array.IndexOf(vocab, "[SEP]")), ["tokens"] = new JsonArray("[SEP]") },
            },
        },
        ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##", ["cleanup"] = true },
        ["model"] = new JsonObject
        {
            ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = ids,
        },
    };
    return json.ToJsonString();
}

static float[] MeanPooled(InferenceSession session, int[] ids)
{
    long[] shape = [1, ids.Length];
    using var inputIds = OrtValue.CreateTensorValueFromMemory(ids.Select(x => (long)x).ToArray(), shape);
    using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
    using var types = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
    using var run = new RunOptions();
    using var outputs = session.Run(run, ["input_ids", "attention_mask", "token_type_ids"], [inputIds, mask, types], ["last_hidden_state"]);
    var h = outputs[0].GetTensorDataAsSpan<float>();
    int dim = h.Length / ids.Length;
    var v = new double[dim];
    for (int t = 0; t < ids.Length; t++)
        for (int j = 0; j < dim; j++) v[j] += h[t * dim + j];
    double norm = Math.Sqrt(v.Sum(x => (x / ids.Length) * (x / ids.Length)));
    return v.Select(x => (float)(x / ids.Length / Math.Max(norm, 1e-12))).ToArray();
}

// 300 texts: 100 handbook questions, 110 handbook paragraphs, 90 hand-written edge cases. Deterministic.
static List<string> Texts(string root)
{
    var texts = new List<string>();
    foreach (var line in File.ReadLines(Path.Combine(root, "samples", "questions.jsonl")).Take(100))
        texts.Add(JsonDocument.Parse(line).RootElement.GetProperty("question").GetString()!);
    var paragraphs = Directory.EnumerateFiles(Path.Combine(root, "samples", "handbook"), "*.*", SearchOption.AllDirectories)
        .Where(f => f.EndsWith(".md", StringComparison.Ordinal) || f.EndsWith(".txt", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)
        .SelectMany(f => File.ReadAllText(f).Split("\n\n"))
        .Select(p => p.Trim()).Where(p => p.Length > 20).ToList();
    for (int i = 0; i < 100; i++) texts.Add(paragraphs[i * paragraphs.Count / 100]);
    // long inputs (> 256 tokens, truncated)
    for (int i = 0; i < 10; i++) texts.Add(string.Join(" ", paragraphs.Skip(i * 15).Take(15)));
    string[] edge =
    [
        "Café au lait, naïve résumé, jalapeño, Ångström, Øresund, Straße, façade, coöperate.",
        "Zoë's crème brûlée costs €4.50 — not £4.50 or ¥450.",
        "東京オフィスの休暇は何日ですか？", "北京和上海的办公室", "서울 사무소 휴가 정책", "Ελληνικά: πόσες ημέρες άδειας;",
        "Кириллица: сколько дней отпуска?", "عربى: كم يوم إجازة؟", "עברית: כמה ימי חופשה?", "हिन्दी में छुट्टी के दिन",
        "Emoji 🎉🚀 test 👍🏽 with ZWJ 👨‍👩‍👧 and flags 🇩🇪🇵🇹", "✅ done ❌ failed ⚠️ warning",
        "tab\tseparated\tvalues\there", "line one\nline two\r\nline three", "  leading and trailing spaces  ",
        "non\u00a0breaking\u2009thin\u200bzero-width space", "control\u0007bell\u0000null\u001bescape", "soft\u00adhyphen and \ufeffBOM",
        "Version 3.1.4-beta+build.5, IP 192.168.0.1, port :8080", "1,234,567.89 vs 1.234.567,89 and 1e-7 and 0x1F", "31/03/2026 09:30 UTC+01:00",
        "$1,000,000.00 (USD) ≈ €920k; 12½ %", "x² + y² = z³ ∑∫√∞ ≤ ≥ ≠ ±", "user@example.com https://intranet.northwind.example/hr?q=leave&lang=en",
        "C:\\Users\\aisha\\Documents\\policy.docx and /etc/openbook/config.json", "snake_case_name camelCaseName kebab-case-name",
        "ALL CAPS SHOUTING ABOUT VACATION", "MiXeD CaSe WoRdS", "don't can't won't it's o'clock", "“smart quotes” and ‘single’ and «guillemets»",
        "Ellipsis… and em—dash and en–dash", "(parentheses) [brackets] {braces} <angles>", "#hashtag @mention $variable %percent ^caret &amp",
        "a", "I", "?", "...", "", "  ", "a b c d e f g h i j k l m n o p q r s t u v w x y z",
        new string('x', 150), "supercalifragilisticexpialidocious antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "[CLS] literal special tokens [SEP] in text", "[UNK] [PAD] [MASK] as plain words", "html <b>bold</b> &nbsp; &lt;tag&gt;",
        "Markdown **bold** _italic_ `code` # Heading", "| Office | Days |\n|---|---|\n| Berlin | 30 |", "- bullet one\n- bullet two\n* star",
        "Ünïcödé Ñoño Ça va? Über. Øre. Åse.", "ﬁ ligature ﬂ and full-width ＡＢＣ１２３", "Ⅻ Roman numeral and ① circled", "combining e\u0301 vs precomposed é",
        "Turkish İstanbul ıi and German ß ẞ", "Vietnamese: Tiếng Việt có dấu", "Thai: ภาษาไทย", "Mixed 日本語 and English words",
        "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000", "Phone +49 30 1234567 and +1 (617) 555-0123", "ISBN 978-3-16-148410-0",
        "Version v2.0.0-rc.1", "2026-01-01T00:00:00Z", "4 × A100, 12 h max, 80 GB", "CO₂ emissions and H₂O", "½ ¼ ¾ fractions",
        "Dr. Smith, e.g. i.e. etc. vs. Mr. Jones", "U.S.A. and U.K. offices", "Q&A: R&D, M&A, P&L", "North-west, self-service, re-enter",
        "Parental leave (16 weeks) at 100% of base salary.", "Sick leave: 10 days (80 hours) per year in the US.",
        "Expenses over €500 need pre-approval.", "The VPN client NorthGate Connect 5.2 runs on Ubuntu 22.04.",
        "PeopleHub → Time off → Request", "Step 1: open; Step 2: click; Step 3: done.", "Ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "Zero\u200dwidth\u200cjoiners",
        "Right-to-left mark \u200f and left-to-right \u200e", "Private use \ue000 char", "Surrogate pair 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "Musical 𝄞 symbol",
        "Kaomoji (╯°□°)╯︵ ┻━┻", "Box drawing ┌─┐│└┘", "Arrows ← ↑ → ↓ ↔", "Currency ₹ ₩ ₿ ₽ ₺",
    ];
    texts.AddRange(edge);
    while (texts.Count < 300) texts.Add(paragraphs[(texts.Count * 37) % paragraphs.Count] + " " + texts[texts.Count % 100]);
    return texts.Take(300).ToList();
}
