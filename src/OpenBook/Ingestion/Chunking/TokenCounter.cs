using System.Globalization;

namespace OpenBook.Ingestion;

/// <summary>Counts tokens of text. Plug a model's tokenizer in here so chunk sizes match the embedding model.</summary>
public interface ITokenCounter
{
    /// <summary>Number of tokens in <paramref name="text"/>.</summary>
    int CountTokens(ReadOnlySpan<char> text);
}

/// <summary>Adapts any counting function (e.g. a Microsoft.ML.Tokenizers <c>Tokenizer.CountTokens</c>).</summary>
public sealed class DelegateTokenCounter(Func<string, int> count) : ITokenCounter
{
    /// <inheritdoc />
    public int CountTokens(ReadOnlySpan<char> text) => count(text.ToString());
}

/// <summary>
/// Fast, deterministic approximation of a subword (BPE) tokenizer, with no vocabulary:
/// whitespace is free; a run of letters counts one token per started <see cref="LettersPerToken"/> letters
/// ("leave" = 1, "reimbursement" = 3); a run of digits one per started <see cref="DigitsPerToken"/> digits
/// ("2026" = 2); every other character (punctuation, symbols, each CJK/Hangul/Kana character, emoji) is one token.
/// English prose comes out close to (usually slightly above) GPT-style tokenizers, which is the safe side for
/// chunk budgets. Counts are additive across whitespace, which the chunker relies on for exact budgets.
/// </summary>
public sealed class ApproximateTokenCounter : ITokenCounter
{
    /// <summary>Shared instance.</summary>
    public static ApproximateTokenCounter Instance { get; } = new();

    /// <summary>Letters per subword token.</summary>
    public const int LettersPerToken = 6;

    /// <summary>Digits per token (GPT tokenizers group up to 3 digits).</summary>
    public const int DigitsPerToken = 3;

    /// <inheritdoc />
    public int CountTokens(ReadOnlySpan<char> text)
    {
        int tokens = 0, letters = 0, digits = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 128 ? IsAsciiLetter(c) : IsWordLetter(c))
            {
                if (digits > 0) { tokens += Ceil(digits, DigitsPerToken); digits = 0; }
                letters++;
                continue;
            }
            if (c is >= '0' and <= '9')
            {
                if (letters > 0) { tokens += Ceil(letters, LettersPerToken); letters = 0; }
                digits++;
                continue;
            }
            if (letters > 0) { tokens += Ceil(letters, LettersPerToken); letters = 0; }
            if (digits > 0) { tokens += Ceil(digits, DigitsPerToken); digits = 0; }
            if (char.IsWhiteSpace(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            tokens++;
        }
        if (letters > 0) tokens += Ceil(letters, LettersPerToken);
        if (digits > 0) tokens += Ceil(digits, DigitsPerToken);
        return tokens;
    }

    private static int Ceil(int n, int d) => (n + d - 1) / d;

    private static bool IsAsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

    /// <summary>Letters of alphabetic scripts (Latin, Greek, Cyrillic, ...) and combining marks; ideographs count alone.</summary>
    private static bool IsWordLetter(char c)
    {
        if (c >= '\u2E80') return false; // CJK, Kana, Hangul, and the rest of the BMP: one token per character
        var category = char.GetUnicodeCategory(c);
        return category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark;
    }
}
