using System.Text.Json.Nodes;

namespace OpenBook.Models.Formats.Tokenization;

/// <summary>
/// Tokenizer pipelines of well-known checkpoint families, as the <c>normalizer</c> / <c>pre_tokenizer</c> /
/// <c>post_processor</c> / <c>decoder</c> blocks of their tokenizer.json. Used by <see cref="BpeTrainer"/> so a
/// project-trained tokenizer behaves exactly like the family's real one, only with a smaller vocabulary.
/// </summary>
public enum TokenizerPreset
{
    /// <summary>GPT-2 byte-level BPE: ByteLevel pre-tokenizer with GPT-2's regex.</summary>
    Gpt2,
    /// <summary>SmolLM2 (and SmolLM): individual digits, then GPT-2 byte-level.</summary>
    SmolLM2,
    /// <summary>Qwen2 / Qwen2.5: NFC, Qwen's split regex (single digits), byte-level without regex.</summary>
    Qwen2,
    /// <summary>Llama-3.x: Llama-3 split regex (digits in groups of ≤ 3), byte-level, ignore_merges, BOS added.</summary>
    Llama3,
    /// <summary>Llama-2 / TinyLlama / Mistral: SentencePiece-style BPE (▁ for spaces, byte fallback, BOS added).</summary>
    SentencePiece,
}

/// <summary>The tokenizer.json pipeline blocks of each <see cref="TokenizerPreset"/>.</summary>
public static class TokenizerPresets
{
    /// <summary>Qwen2's pre-tokenization regex.</summary>
    public const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's pre-tokenization regex.</summary>
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Whether the preset is byte-level (vocabulary over GPT-2's byte alphabet).</summary>
    public static bool IsByteLevel(this TokenizerPreset preset) => preset != TokenizerPreset.SentencePiece;

    /// <summary>The <c>normalizer</c> block (null for none).</summary>
    public static JsonNode? Normalizer(TokenizerPreset preset) => preset switch
    {
        TokenizerPreset.Qwen2 => new JsonObject { ["type"] = "NFC" },
        TokenizerPreset.SentencePiece => new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(
                new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
        },
        _ => null,
    };

    /// <summary>The <c>pre_tokenizer</c> block (null for none).</summary>
    public static JsonNode? PreTokenizer(TokenizerPreset preset) => preset switch
    {
        TokenizerPreset.Gpt2 => ByteLevel(useRegex: true),
        TokenizerPreset.SmolLM2 => new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(new JsonObject { ["type"] = "Digits", ["individual_digits"] = true }, ByteLevel(useRegex: true)),
        },
        TokenizerPreset.Qwen2 => SplitThenByteLevel(Qwen2Pattern),
        TokenizerPreset.Llama3 => SplitThenByteLevel(Llama3Pattern),
        _ => null,
    };

    /// <summary>The <c>decoder</c> block.</summary>
    public static JsonNode Decoder(TokenizerPreset preset) => preset switch
    {
        TokenizerPreset.SentencePiece => new JsonObject
        {
            ["type"] = "Sequence",
            ["decoders"] = new JsonArray(
                new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                new JsonObject { ["type"] = "ByteFallback" },
                new JsonObject { ["type"] = "Fuse" },
                new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
        },
        _ => new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
    };

    /// <summary>The <c>post_processor</c> block; <paramref name="bos"/> is prepended when the family adds BOS.</summary>
    public static JsonNode? PostProcessor(TokenizerPreset preset, (string Token, int Id)? bos)
    {
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true };
        if (preset is not (TokenizerPreset.Llama3 or TokenizerPreset.SentencePiece) || bos is not { } b)
            return preset.IsByteLevel() ? byteLevel : null;
        var template = new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(Special(b.Token), Seq("A")),
            ["pair"] = new JsonArray(Special(b.Token), Seq("A"), Special(b.Token), Seq("B")),
            ["special_tokens"] = new JsonObject
            {
                [b.Token] = new JsonObject { ["id"] = b.Token, ["ids"] = new JsonArray(b.Id), ["tokens"] = new JsonArray(b.Token) },
            },
        };
        return preset == TokenizerPreset.Llama3
            ? new JsonObject { ["type"] = "Sequence", ["processors"] = new JsonArray(byteLevel, template) }
            : template;

        static JsonObject Special(string t) => new() { ["SpecialToken"] = new JsonObject { ["id"] = t, ["type_id"] = 0 } };
        static JsonObject Seq(string s) => new() { ["Sequence"] = new JsonObject { ["id"] = s, ["type_id"] = 0 } };
    }

    private static JsonObject ByteLevel(bool useRegex) =>
        new() { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = useRegex };

    private static JsonObject SplitThenByteLevel(string pattern) => new()
    {
        ["type"] = "Sequence",
        ["pretokenizers"] = new JsonArray(
            new JsonObject
            {
                ["type"] = "Split",
                ["pattern"] = new JsonObject { ["Regex"] = pattern },
                ["behavior"] = "Isolated",
                ["invert"] = false,
            },
            ByteLevel(useRegex: false)),
    };
}
