using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenBook.Models.Formats.Tokenization;

/// <summary>Settings of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Target vocabulary size, counting special tokens and the initial alphabet.</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>Pairs seen fewer times than this are never merged (training stops there).</summary>
    public long MinFrequency { get; init; } = 2;

    /// <summary>Special tokens, given the first ids in this order (e.g. <c>&lt;|endoftext|&gt;</c>, <c>&lt;|im_start|&gt;</c>).</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [];

    /// <summary>The family whose tokenizer pipeline the result uses.</summary>
    public TokenizerPreset Preset { get; init; } = TokenizerPreset.SmolLM2;

    /// <summary>
    /// Byte-level presets: start from all 256 byte symbols (true, as real checkpoints do) or only from the
    /// symbols seen in the corpus (false, HF's trainer default).
    /// </summary>
    public bool FullByteAlphabet { get; init; } = true;

    /// <summary>SentencePiece preset: the most frequent characters kept as base symbols (others use byte fallback).</summary>
    public int LimitAlphabet { get; init; } = 1000;
}

/// <summary>The product of <see cref="BpeTrainer.Train"/>: a vocabulary, ranked merges and the pipeline to save.</summary>
public sealed class TrainedBpe
{
    internal TrainedBpe(IReadOnlyList<string> idToToken, IReadOnlyList<(string, string)> merges, BpeTrainerOptions options)
    {
        IdToToken = idToToken;
        Merges = merges;
        Options = options;
    }

    /// <summary>Tokens by id (special tokens first).</summary>
    public IReadOnlyList<string> IdToToken { get; }

    /// <summary>Merges in rank order.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    /// <summary>The options used.</summary>
    public BpeTrainerOptions Options { get; }

    /// <summary>A complete Hugging Face <c>tokenizer.json</c>.</summary>
    public string ToTokenizerJson()
    {
        var p = Options.Preset;
        var vocab = new JsonObject();
        for (var i = 0; i < IdToToken.Count; i++) vocab[IdToToken[i]] = i;
        var added = new JsonArray();
        foreach (var s in Options.SpecialTokens)
            added.Add(new JsonObject
            {
                ["id"] = IdToToken.ToList().IndexOf(s), ["content"] = s, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        var sp = p == TokenizerPreset.SentencePiece;
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = TokenizerPresets.Normalizer(p),
            ["pre_tokenizer"] = TokenizerPresets.PreTokenizer(p),
            ["post_processor"] = TokenizerPresets.PostProcessor(p, Bos is { } b ? (b, IdToToken.ToList().IndexOf(b)) : null),
            ["decoder"] = TokenizerPresets.Decoder(p),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = sp ? "<unk>" : null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = sp,
                ["byte_fallback"] = sp,
                ["ignore_merges"] = p == TokenizerPreset.Llama3,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(Merges.Select(m => (JsonNode)(m.Left + " " + m.Right)).ToArray()),
            },
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>The BOS token the preset's post-processor adds (Llama-3, SentencePiece), taken from the special tokens.</summary>
    private string? Bos => Options.Preset switch
    {
        TokenizerPreset.SentencePiece => Options.SpecialTokens.Contains("<s>") ? "<s>" : null,
        TokenizerPreset.Llama3 => Options.SpecialTokens.FirstOrDefault(s => s.Contains("begin_of_text")) ?? Options.SpecialTokens.FirstOrDefault(),
        _ => null,
    };

    /// <summary>
    /// A <c>tokenizer_config.json</c> naming the special tokens and, optionally, a chat template.
    /// </summary>
    public string ToTokenizerConfigJson(string? bosToken, string? eosToken, string? padToken = null, string? chatTemplate = null, int modelMaxLength = 2048)
    {
        var decoderMap = new JsonObject();
        foreach (var s in Options.SpecialTokens)
            decoderMap[IdToToken.ToList().IndexOf(s).ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = s, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
            };
        var cfg = new JsonObject
        {
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = decoderMap,
            ["bos_token"] = bosToken,
            ["eos_token"] = eosToken,
            ["pad_token"] = padToken,
            ["unk_token"] = Options.Preset == TokenizerPreset.SentencePiece ? "<unk>" : null,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = modelMaxLength,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
        };
        if (chatTemplate is not null) cfg["chat_template"] = chatTemplate;
        return cfg.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}

/// <summary>
/// Trains a BPE tokenizer the way Hugging Face's <c>BpeTrainer</c> does: words from the preset's normalizer and
/// pre-tokenizer are counted, the base alphabet is sorted by code point after the special tokens, then the most
/// frequent adjacent pair is merged repeatedly (ties go to the pair with the smaller ids) until the vocabulary is
/// full or no pair reaches <see cref="BpeTrainerOptions.MinFrequency"/>.
/// </summary>
public static class BpeTrainer
{
    /// <summary>Trains on the given texts.</summary>
    public static TrainedBpe Train(IEnumerable<string> texts, BpeTrainerOptions options)
    {
        if (options.VocabSize < 1) throw new OpenBookException($"BPE trainer: vocab size must be positive (got {options.VocabSize})");
        var p = options.Preset;
        var normalizer = Parse(TokenizerPresets.Normalizer(p), Normalizer.Parse);
        var preTokenizer = Parse(TokenizerPresets.PreTokenizer(p), PreTokenizer.Parse);

        var wordCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            var normalized = normalizer?.Normalize(text) ?? text;
            IEnumerable<string> pieces = preTokenizer is not null ? preTokenizer.Split([normalized], true)
                : p == TokenizerPreset.SentencePiece ? MetaspaceWords(normalized) : [normalized];
            foreach (var w in pieces)
                if (w.Length > 0) wordCounts[w] = wordCounts.GetValueOrDefault(w) + 1;
        }

        var idToToken = new List<string>(options.SpecialTokens);
        var tokenToId = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < idToToken.Count; i++)
            if (!tokenToId.TryAdd(idToToken[i], i)) throw new OpenBookException($"BPE trainer: special token \"{idToToken[i]}\" is listed twice");

        // Base alphabet: HF keeps the characters (the initial alphabet counting as infinitely frequent), trims to
        // limit_alphabet by frequency, then sorts by code point.
        var charCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (w, c) in wordCounts)
            foreach (var ch in Chars(w)) charCounts[ch] = charCounts.GetValueOrDefault(ch) + c;
        if (p.IsByteLevel() && options.FullByteAlphabet)
            foreach (var ch in ByteLevelAlphabet.Alphabet) charCounts[ch.ToString()] = long.MaxValue;
        IEnumerable<string> alphabet = charCounts.Keys;
        if (p == TokenizerPreset.SentencePiece)
        {
            for (var b = 0; b < 256; b++) AddToken($"<0x{b:X2}>");
            alphabet = charCounts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Take(options.LimitAlphabet).Select(kv => kv.Key);
        }
        foreach (var ch in alphabet.OrderBy(CodePoint)) AddToken(ch);

        // Words as symbol-id sequences (characters outside the alphabet are dropped, as HF's trainer does).
        var words = new List<int[]>(wordCounts.Count);
        var counts = new List<long>(wordCounts.Count);
        foreach (var (w, c) in wordCounts)
        {
            words.Add(Chars(w).Where(tokenToId.ContainsKey).Select(ch => tokenToId[ch]).ToArray());
            counts.Add(c);
        }

        var pairCounts = new Dictionary<(int, int), long>();
        var where = new Dictionary<(int, int), HashSet<int>>();
        for (var wi = 0; wi < words.Count; wi++) AddPairs(wi, +1);
        var queue = new PriorityQueue<(int L, int R), (long NegCount, int L, int R)>();
        foreach (var (pair, c) in pairCounts) if (c > 0) queue.Enqueue(pair, (-c, pair.Item1, pair.Item2));

        var merges = new List<(string, string)>();
        while (idToToken.Count < options.VocabSize && queue.TryDequeue(out var top, out var prio))
        {
            var count = pairCounts.GetValueOrDefault(top);
            if (-prio.NegCount != count)
            {
                if (count > 0) queue.Enqueue(top, (-count, top.L, top.R));
                continue;
            }
            if (count < 1 || count < options.MinFrequency) break;
            var newToken = idToToken[top.L] + idToToken[top.R];
            var newId = tokenToId.TryGetValue(newToken, out var existing) ? existing : AddToken(newToken);
            merges.Add((idToToken[top.L], idToToken[top.R]));
            var touched = new HashSet<(int, int)>();
            foreach (var wi in where[top].ToArray())
            {
                var w = words[wi];
                if (!Contains(w, top.L, top.R)) continue;
                AddPairs(wi, -1);
                words[wi] = MergeWord(w, top.L, top.R, newId);
                AddPairs(wi, +1, touched, newId);
            }
            where.Remove(top);
            foreach (var pair in touched)
                if (pairCounts.GetValueOrDefault(pair) is var c and > 0) queue.Enqueue(pair, (-c, pair.Item1, pair.Item2));
        }
        return new TrainedBpe(idToToken, merges, options);

        int AddToken(string t)
        {
            tokenToId[t] = idToToken.Count;
            idToToken.Add(t);
            return idToToken.Count - 1;
        }

        void AddPairs(int wi, int sign, HashSet<(int, int)>? touched = null, int newId = -1)
        {
            var w = words[wi];
            for (var i = 0; i + 1 < w.Length; i++)
            {
                var pair = (w[i], w[i + 1]);
                pairCounts[pair] = pairCounts.GetValueOrDefault(pair) + sign * counts[wi];
                if (sign > 0)
                {
                    if (!where.TryGetValue(pair, out var set)) where[pair] = set = [];
                    set.Add(wi);
                    if (touched is not null && (pair.Item1 == newId || pair.Item2 == newId)) touched.Add(pair);
                }
            }
        }
    }

    private static T? Parse<T>(JsonNode? node, Func<JsonElement, string, T?> parse) where T : class =>
        node is null ? null : parse(JsonDocument.Parse(node.ToJsonString()).RootElement.Clone(), "trainer preset");

    /// <summary>SentencePiece-style training words: split before each ▁ (HF Metaspace "MergedWithNext").</summary>
    private static IEnumerable<string> MetaspaceWords(string s)
    {
        var start = 0;
        for (var i = 1; i <= s.Length; i++)
            if (i == s.Length || s[i] == '▁')
            {
                if (i > start) yield return s[start..i];
                start = i;
            }
    }

    private static IEnumerable<string> Chars(string w)
    {
        for (var i = 0; i < w.Length;)
        {
            var len = char.IsSurrogatePair(w, i) ? 2 : 1;
            yield return w.Substring(i, len);
            i += len;
        }
    }

    private static int CodePoint(string ch) => ch.Length == 2 ? char.ConvertToUtf32(ch[0], ch[1]) : ch[0];

    private static bool Contains(int[] w, int l, int r)
    {
        for (var i = 0; i + 1 < w.Length; i++) if (w[i] == l && w[i + 1] == r) return true;
        return false;
    }

    private static int[] MergeWord(int[] w, int l, int r, int newId)
    {
        var result = new List<int>(w.Length);
        for (var i = 0; i < w.Length; i++)
        {
            if (i + 1 < w.Length && w[i] == l && w[i + 1] == r)
            {
                result.Add(newId);
                i++;
            }
            else result.Add(w[i]);
        }
        return result.ToArray();
    }
}
