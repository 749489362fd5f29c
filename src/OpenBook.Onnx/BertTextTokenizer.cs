using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace OpenBook.Onnx;

/// <summary>
/// BERT tokenization configured from a Hugging Face model directory: <c>tokenizer.json</c> (WordPiece model +
/// BertNormalizer) or else <c>vocab.txt</c> with <c>tokenizer_config.json</c>. Text is split by
/// <see cref="BertPreTokenizer"/> (HF's BasicTokenizer rules) and each word by Microsoft.ML.Tokenizers
/// <see cref="WordPieceTokenizer"/>. (ML.Tokenizers' own BertTokenizer drops symbols such as € and ∑ where HF emits
/// [UNK], so its basic tokenization is not used.) Adds <c>[CLS]</c>/<c>[SEP]</c> and truncates like HF (right side;
/// longest-first for pairs). Special-token strings inside the text are tokenized as plain text.
/// </summary>
public sealed class BertTextTokenizer
{
    private readonly WordPieceTokenizer _wordPiece;
    private readonly BertPreTokenizer _basic;

    private BertTextTokenizer(WordPieceTokenizer wordPiece, BertPreTokenizer basic, IReadOnlyDictionary<string, int> vocab, BertOptions specials, string source)
    {
        _wordPiece = wordPiece;
        _basic = basic;
        Source = source;
        int Id(string token, string role) => vocab.TryGetValue(token, out var id) ? id
            : throw new OpenBookException($"'{source}': the {role} token '{token}' is not in the vocabulary.");
        ClsId = Id(specials.ClassificationToken, "cls_token");
        SepId = Id(specials.SeparatorToken, "sep_token");
        PadId = Id(specials.PaddingToken, "pad_token");
    }

    /// <summary>The file the vocabulary came from.</summary>
    public string Source { get; }

    /// <summary>Id of <c>[CLS]</c>.</summary>
    public int ClsId { get; }

    /// <summary>Id of <c>[SEP]</c>.</summary>
    public int SepId { get; }

    /// <summary>Id of <c>[PAD]</c>.</summary>
    public int PadId { get; }

    /// <summary>Loads the tokenizer of <paramref name="directory"/> (tokenizer.json preferred, else vocab.txt).</summary>
    public static BertTextTokenizer Load(string directory)
    {
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        var vocabTxt = Path.Combine(directory, "vocab.txt");
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        var config = ModelJson.TryRead(configPath);
        var specials = ModelJson.TryRead(Path.Combine(directory, "special_tokens_map.json"));
        string Special(string field, string fallback) =>
            ModelJson.String(config, field, configPath) ?? ModelJson.String(specials, field, "special_tokens_map.json") ?? fallback;

        var options = new BertOptions
        {
            ClassificationToken = Special("cls_token", "[CLS]"),
            SeparatorToken = Special("sep_token", "[SEP]"),
            PaddingToken = Special("pad_token", "[PAD]"),
            MaskingToken = Special("mask_token", "[MASK]"),
            UnknownToken = Special("unk_token", "[UNK]"),
            ApplyBasicTokenization = true,
            SplitOnSpecialTokens = true,
        };

        if (File.Exists(tokenizerJson))
        {
            var json = ModelJson.Read(tokenizerJson);
            var model = ModelJson.Field(json, "model") ?? throw new OpenBookException($"'{tokenizerJson}': field 'model' is missing.");
            var type = ModelJson.String(model, "type", tokenizerJson);
            if (type != "WordPiece")
                throw new OpenBookException($"'{tokenizerJson}': field 'model.type' is '{type}'; OpenBook's sentence encoders need a BERT WordPiece tokenizer.");
            var prefix = ModelJson.String(model, "continuing_subword_prefix", tokenizerJson) ?? "##";
            options.ContinuingSubwordPrefix = prefix;
            options.UnknownToken = ModelJson.String(model, "unk_token", tokenizerJson) ?? options.UnknownToken;
            options.MaxInputCharsPerWord = ModelJson.Int(model, "max_input_chars_per_word", tokenizerJson) ?? 100;

            var normalizer = ModelJson.Field(json, "normalizer");
            var normType = ModelJson.String(normalizer, "type", tokenizerJson);
            if (normalizer is not null && normType != "BertNormalizer")
                throw new OpenBookException($"'{tokenizerJson}': field 'normalizer.type' is '{normType}'; only BertNormalizer is supported.");
            bool lower = ModelJson.Bool(normalizer, "lowercase", tokenizerJson) ?? false;
            options.LowerCaseBeforeTokenization = lower;
            options.RemoveNonSpacingMarks = ModelJson.Bool(normalizer, "strip_accents", tokenizerJson) ?? lower;
            options.IndividuallyTokenizeCjk = ModelJson.Bool(normalizer, "handle_chinese_chars", tokenizerJson) ?? true;

            var vocab = ModelJson.Field(model, "vocab") ?? throw new OpenBookException($"'{tokenizerJson}': field 'model.vocab' is missing.");
            return Create(VocabFromJson(vocab, tokenizerJson), options, tokenizerJson);
        }
        if (File.Exists(vocabTxt))
        {
            bool lower = ModelJson.Bool(config, "do_lower_case", configPath) ?? true; // HF BertTokenizer's default
            options.LowerCaseBeforeTokenization = lower;
            options.RemoveNonSpacingMarks = ModelJson.Bool(config, "strip_accents", configPath) ?? lower;
            options.IndividuallyTokenizeCjk = ModelJson.Bool(config, "tokenize_chinese_chars", configPath) ?? true;
            var lines = File.ReadAllLines(vocabTxt, Encoding.UTF8);
            if (lines.Length > 0 && lines[^1].Length == 0) Array.Resize(ref lines, lines.Length - 1);
            return Create(lines, options, vocabTxt);
        }
        throw new OpenBookException($"No tokenizer in '{directory}': looked for tokenizer.json and vocab.txt.");
    }

    private static BertTextTokenizer Create(string[] tokens, BertOptions options, string source)
    {
        var vocab = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) vocab.TryAdd(tokens[i], i);
        WordPieceTokenizer wordPiece;
        try
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', tokens) + "\n"));
            wordPiece = WordPieceTokenizer.Create(stream, new WordPieceOptions
            {
                UnknownToken = options.UnknownToken,
                ContinuingSubwordPrefix = options.ContinuingSubwordPrefix,
                MaxInputCharsPerWord = options.MaxInputCharsPerWord,
            });
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new OpenBookException($"'{source}': cannot build the WordPiece tokenizer: {ex.Message}", ex);
        }
        var basic = new BertPreTokenizer(options.LowerCaseBeforeTokenization, options.RemoveNonSpacingMarks, options.IndividuallyTokenizeCjk);
        return new BertTextTokenizer(wordPiece, basic, vocab, options, source);
    }

    /// <summary>tokenizer.json's token→id map as vocab.txt lines (line number = id); ids must be 0..n-1.</summary>
    private static string[] VocabFromJson(JsonElement vocab, string file)
    {
        if (vocab.ValueKind != JsonValueKind.Object) throw new OpenBookException($"'{file}': field 'model.vocab' must be an object of token: id.");
        var tokens = new string?[vocab.EnumerateObject().Count()];
        foreach (var p in vocab.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out var id) || id < 0 || id >= tokens.Length || tokens[id] is not null)
                throw new OpenBookException($"'{file}': field 'model.vocab': token '{p.Name}' has id {p.Value}; ids must be 0..{tokens.Length - 1}, each once.");
            if (p.Name.Contains('\n')) throw new OpenBookException($"'{file}': field 'model.vocab': token {JsonSerializer.Serialize(p.Name)} contains a newline.");
            tokens[id] = p.Name;
        }
        return tokens!;
    }

    /// <summary>WordPiece ids of <paramref name="text"/> without special tokens.</summary>
    public IReadOnlyList<int> EncodeWords(string text)
    {
        var ids = new List<int>();
        foreach (var word in _basic.Split(text))
            ids.AddRange(_wordPiece.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
        return ids;
    }

    /// <summary><c>[CLS] text [SEP]</c>, the text truncated so the whole fits <paramref name="maxLength"/> tokens.</summary>
    public int[] Encode(string text, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var words = EncodeWords(text);
        int n = Math.Min(words.Count, maxLength - 2);
        var ids = new int[n + 2];
        ids[0] = ClsId;
        for (int i = 0; i < n; i++) ids[i + 1] = words[i];
        ids[n + 1] = SepId;
        return ids;
    }

    /// <summary>
    /// <c>[CLS] a [SEP] b [SEP]</c> with token types 0…0 1…1, truncated longest-first (one token at a time from the
    /// longer side, like HF's <c>truncation="longest_first"</c>) to <paramref name="maxLength"/>.
    /// </summary>
    public (int[] Ids, int[] TypeIds) EncodePair(string a, string b, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 3);
        var wa = EncodeWords(a);
        var wb = EncodeWords(b);
        int na = wa.Count, nb = wb.Count;
        while (na + nb > maxLength - 3)
        {
            if (na > nb) na--;
            else nb--;
        }
        var ids = new int[na + nb + 3];
        var types = new int[ids.Length];
        int k = 0;
        ids[k++] = ClsId;
        for (int i = 0; i < na; i++) ids[k++] = wa[i];
        ids[k++] = SepId;
        for (int i = 0; i < nb; i++) { types[k] = 1; ids[k++] = wb[i]; }
        types[k] = 1;
        ids[k] = SepId;
        return (ids, types);
    }
}
