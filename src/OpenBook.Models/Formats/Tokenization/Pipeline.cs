using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OpenBook.Models.Formats.Tokenization;

/// <summary>A <c>normalizer</c> of tokenizer.json (NFC/NFKC, Lowercase, Prepend, Replace, Sequence).</summary>
internal abstract class Normalizer
{
    public abstract string Normalize(string text);

    public static Normalizer? Parse(JsonElement e, string where)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = e.GetProperty("type").GetString();
        return type switch
        {
            "Sequence" => new SequenceNormalizer(e.GetProperty("normalizers").EnumerateArray()
                .Select((n, i) => Parse(n, $"{where}.normalizers[{i}]")).OfType<Normalizer>().ToArray()),
            "NFC" => new FormNormalizer(NormalizationForm.FormC),
            "NFD" => new FormNormalizer(NormalizationForm.FormD),
            "NFKC" => new FormNormalizer(NormalizationForm.FormKC),
            "NFKD" => new FormNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LambdaNormalizer(s => s.ToLowerInvariant()),
            "Prepend" => Prepend(e.GetProperty("prepend").GetString()!),
            "Replace" => new LambdaNormalizer(Pattern.Parse(e, where).Replacer(e.GetProperty("content").GetString()!)),
            _ => throw new OpenBookException($"tokenizer.json: {where}: normalizer type \"{type}\" is not supported"),
        };
    }

    private static LambdaNormalizer Prepend(string prefix) => new(s => s.Length == 0 ? s : prefix + s);

    private sealed class SequenceNormalizer(Normalizer[] items) : Normalizer
    {
        public override string Normalize(string text) => items.Aggregate(text, (s, n) => n.Normalize(s));
    }

    private sealed class FormNormalizer(NormalizationForm form) : Normalizer
    {
        public override string Normalize(string text) => text.Normalize(form);
    }

    private sealed class LambdaNormalizer(Func<string, string> f) : Normalizer
    {
        public override string Normalize(string text) => f(text);
    }
}

/// <summary>A <c>{"String": …}</c> or <c>{"Regex": …}</c> pattern of tokenizer.json.</summary>
internal sealed class Pattern(Regex regex)
{
    public Regex Regex { get; } = regex;

    public static Pattern Parse(JsonElement e, string where)
    {
        var p = e.GetProperty("pattern");
        if (p.TryGetProperty("String", out var s)) return new Pattern(new Regex(Regex.Escape(s.GetString()!), RegexOptions.CultureInvariant));
        if (p.TryGetProperty("Regex", out var r))
        {
            try
            {
                return new Pattern(new Regex(r.GetString()!, RegexOptions.CultureInvariant | RegexOptions.Compiled));
            }
            catch (ArgumentException ex)
            {
                throw new OpenBookException($"tokenizer.json: {where}: regex cannot be compiled: {ex.Message}");
            }
        }
        throw new OpenBookException($"tokenizer.json: {where}: pattern must have \"String\" or \"Regex\"");
    }

    public Func<string, string> Replacer(string content) => s => Regex.Replace(s, content.Replace("$", "$$"));
}

/// <summary>A <c>pre_tokenizer</c> of tokenizer.json (ByteLevel, Split, Digits, Metaspace, Sequence).</summary>
internal abstract class PreTokenizer
{
    /// <summary>Splits each piece further.</summary>
    public abstract List<string> Split(List<string> pieces, bool firstSegment);

    /// <summary>GPT-2's pre-tokenization pattern (used by ByteLevel with use_regex).</summary>
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static PreTokenizer? Parse(JsonElement e, string where)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = e.GetProperty("type").GetString();
        return type switch
        {
            "Sequence" => new SequencePre(e.GetProperty("pretokenizers").EnumerateArray()
                .Select((n, i) => Parse(n, $"{where}.pretokenizers[{i}]")).OfType<PreTokenizer>().ToArray()),
            "ByteLevel" => new ByteLevelPre(Bool(e, "add_prefix_space", true), Bool(e, "use_regex", true)),
            "Split" => new SplitPre(Pattern.Parse(e, where).Regex, e.GetProperty("behavior").GetString()!, Bool(e, "invert", false), where),
            "Digits" => new SplitPre(DigitRegex, Bool(e, "individual_digits", false) ? "Isolated" : "Contiguous", false, where),
            "Metaspace" => new MetaspacePre(Str(e, "replacement", "▁"), MetaspacePrepend(e), Bool(e, "split", true)),
            _ => throw new OpenBookException($"tokenizer.json: {where}: pre_tokenizer type \"{type}\" is not supported"),
        };
    }

    private static readonly Regex DigitRegex = new(@"\p{N}", RegexOptions.CultureInvariant | RegexOptions.Compiled);

    internal static string MetaspacePrepend(JsonElement e) =>
        e.TryGetProperty("prepend_scheme", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()!
        : Bool(e, "add_prefix_space", true) ? "always" : "never";

    internal static bool Bool(JsonElement e, string name, bool dflt) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? dflt
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new OpenBookException($"tokenizer.json: '{name}' must be true or false, found {v.GetRawText()}");

    internal static string Str(JsonElement e, string name, string dflt) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : dflt;

    /// <summary>Splits <paramref name="s"/> by regex matches according to an HF split behaviour.</summary>
    internal static IEnumerable<string> SplitBy(Regex regex, string s, string behavior, bool invert)
    {
        // Parts: (text, isMatch) covering the whole string.
        var parts = new List<(string Text, bool Match)>();
        var pos = 0;
        foreach (var m in regex.EnumerateMatches(s))
        {
            if (m.Length == 0) continue;
            if (m.Index > pos) parts.Add((s[pos..m.Index], invert));
            parts.Add((s.Substring(m.Index, m.Length), !invert));
            pos = m.Index + m.Length;
        }
        if (pos < s.Length) parts.Add((s[pos..], invert));
        switch (behavior)
        {
            case "Isolated":
                return parts.Select(p => p.Text);
            case "Removed":
                return parts.Where(p => !p.Match).Select(p => p.Text);
            case "MergedWithPrevious":
            {
                var r = new List<string>();
                foreach (var p in parts)
                    if (p.Match && r.Count > 0) r[^1] += p.Text;
                    else r.Add(p.Text);
                return r;
            }
            case "MergedWithNext":
            {
                var r = new List<string>();
                var pending = "";
                foreach (var p in parts)
                    if (p.Match) { if (pending.Length > 0) r.Add(pending); pending = p.Text; }
                    else { r.Add(pending + p.Text); pending = ""; }
                if (pending.Length > 0) r.Add(pending);
                return r;
            }
            case "Contiguous":
            {
                var r = new List<(string Text, bool Match)>();
                foreach (var p in parts)
                    if (r.Count > 0 && r[^1].Match == p.Match) r[^1] = (r[^1].Text + p.Text, p.Match);
                    else r.Add(p);
                return r.Select(p => p.Text);
            }
            default:
                throw new OpenBookException($"tokenizer.json: split behavior \"{behavior}\" is not supported");
        }
    }

    private sealed class SequencePre(PreTokenizer[] items) : PreTokenizer
    {
        public override List<string> Split(List<string> pieces, bool firstSegment) =>
            items.Aggregate(pieces, (p, t) => t.Split(p, firstSegment));
    }

    private sealed class SplitPre : PreTokenizer
    {
        private readonly Regex _regex;
        private readonly string _behavior;
        private readonly bool _invert;

        public SplitPre(Regex regex, string behavior, bool invert, string where)
        {
            _regex = regex;
            _behavior = behavior;
            _invert = invert;
            if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
                throw new OpenBookException($"tokenizer.json: {where}: split behavior \"{behavior}\" is not supported");
        }

        public override List<string> Split(List<string> pieces, bool firstSegment) =>
            pieces.SelectMany(p => SplitBy(_regex, p, _behavior, _invert)).Where(p => p.Length > 0).ToList();
    }

    private sealed class ByteLevelPre(bool addPrefixSpace, bool useRegex) : PreTokenizer
    {
        private static readonly Regex Gpt2 = new(Gpt2Pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);

        public override List<string> Split(List<string> pieces, bool firstSegment)
        {
            var result = new List<string>();
            foreach (var piece in pieces)
            {
                var p = addPrefixSpace && piece.Length > 0 && piece[0] != ' ' ? " " + piece : piece;
                var words = useRegex ? SplitBy(Gpt2, p, "Isolated", false) : [p];
                foreach (var w in words)
                    if (w.Length > 0) result.Add(ByteLevelAlphabet.Encode(Encoding.UTF8.GetBytes(w)));
            }
            return result;
        }
    }

    private sealed class MetaspacePre(string replacement, string prependScheme, bool split) : PreTokenizer
    {
        public override List<string> Split(List<string> pieces, bool firstSegment)
        {
            var result = new List<string>();
            foreach (var piece in pieces)
            {
                var s = piece.Replace(" ", replacement);
                if (s.Length > 0 && !s.StartsWith(replacement, StringComparison.Ordinal) &&
                    (prependScheme == "always" || (prependScheme == "first" && firstSegment)))
                    s = replacement + s;
                if (!split) { result.Add(s); continue; }
                var start = 0;
                for (var i = 1; i <= s.Length; i++)
                    if (i == s.Length || string.CompareOrdinal(s, i, replacement, 0, replacement.Length) == 0)
                    {
                        if (i > start) result.Add(s[start..i]);
                        start = i;
                    }
            }
            return result;
        }
    }
}

/// <summary>A <c>decoder</c> of tokenizer.json, working on the list of token strings like HF's decode_chain.</summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public static Decoder? Parse(JsonElement e, string where)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var type = e.GetProperty("type").GetString();
        return type switch
        {
            "Sequence" => new SequenceDec(e.GetProperty("decoders").EnumerateArray()
                .Select((n, i) => Parse(n, $"{where}.decoders[{i}]")).OfType<Decoder>().ToArray()),
            "ByteLevel" => new ByteLevelDec(),
            "ByteFallback" => new ByteFallbackDec(),
            "Fuse" => new FuseDec(),
            "Replace" => new MapDec(Pattern.Parse(e, where).Replacer(e.GetProperty("content").GetString()!)),
            "Strip" => new StripDec(e.GetProperty("content").GetString()!, e.GetProperty("start").GetInt32(), e.GetProperty("stop").GetInt32()),
            "Metaspace" => new MetaspaceDec(PreTokenizer.Str(e, "replacement", "▁"), PreTokenizer.MetaspacePrepend(e) != "never"),
            _ => throw new OpenBookException($"tokenizer.json: {where}: decoder type \"{type}\" is not supported"),
        };
    }

    private sealed class SequenceDec(Decoder[] items) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => items.Aggregate(tokens, (t, d) => d.DecodeChain(t));
    }

    private sealed class ByteLevelDec : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var bytes = new List<byte>();
            foreach (var t in tokens)
            {
                var start = bytes.Count;
                var ok = true;
                foreach (var c in t)
                {
                    if (!ByteLevelAlphabet.TryToByte(c, out var b)) { ok = false; break; }
                    bytes.Add(b);
                }
                if (!ok)
                {
                    bytes.RemoveRange(start, bytes.Count - start);
                    bytes.AddRange(Encoding.UTF8.GetBytes(t));
                }
            }
            return [Encoding.UTF8.GetString(bytes.ToArray())];
        }
    }

    private sealed class ByteFallbackDec : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>();
            var pending = new List<byte>();
            void Flush()
            {
                if (pending.Count == 0) return;
                try
                {
                    result.Add(new UTF8Encoding(false, true).GetString(pending.ToArray()));
                }
                catch (DecoderFallbackException)
                {
                    result.AddRange(Enumerable.Repeat("\uFFFD", pending.Count));
                }
                pending.Clear();
            }
            foreach (var t in tokens)
            {
                if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
                    byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
                {
                    pending.Add(b);
                    continue;
                }
                Flush();
                result.Add(t);
            }
            Flush();
            return result;
        }
    }

    private sealed class FuseDec : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
    }

    private sealed class MapDec(Func<string, string> f) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => tokens.Select(f).ToList();
    }

    private sealed class StripDec(string content, int start, int stop) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => tokens.Select(t =>
        {
            var s = 0;
            var e = t.Length;
            for (var i = 0; i < start && s < e && string.CompareOrdinal(t, s, content, 0, content.Length) == 0; i++) s += content.Length;
            for (var i = 0; i < stop && e - content.Length >= s && string.CompareOrdinal(t, e - content.Length, content, 0, content.Length) == 0; i++) e -= content.Length;
            return t[s..e];
        }).ToList();
    }

    private sealed class MetaspaceDec(string replacement, bool stripFirst) : Decoder
    {
        public override List<string> DecodeChain(List<string> tokens) => tokens.Select((t, i) =>
        {
            var s = t.Replace(replacement, " ");
            return i == 0 && stripFirst && s.StartsWith(' ') ? s[1..] : s;
        }).ToList();
    }
}
