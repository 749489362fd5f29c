using System.Globalization;
using System.Text;

namespace OpenBook.Models.Formats.ChatTemplates;

internal enum TokKind { Name, String, Int, Float, Op, End }

internal readonly record struct Tok(TokKind Kind, string Text, int Line)
{
    public bool Is(string op) => Kind == TokKind.Op && Text == op;
    public bool IsName(string name) => Kind == TokKind.Name && Text == name;
    public override string ToString() => Kind == TokKind.End ? "end of tag" : $"'{Text}'";
}

/// <summary>A piece of a template: literal text, a <c>{{ … }}</c> print or a <c>{% … %}</c> statement.</summary>
internal abstract record Piece(int Line);
internal sealed record TextPiece(string Text, int Line) : Piece(Line);
internal sealed record PrintPiece(List<Tok> Tokens, int Line) : Piece(Line);
internal sealed record StmtPiece(List<Tok> Tokens, int Line) : Piece(Line);

/// <summary>
/// Splits a Jinja template into text, print and statement pieces, applying whitespace control the way Hugging
/// Face's chat-template environment does (<c>trim_blocks=True</c>, <c>lstrip_blocks=True</c>, plus the
/// <c>-</c> / <c>+</c> modifiers).
/// </summary>
internal static class JinjaLexer
{
    public static List<Piece> Lex(string src)
    {
        // Jinja's default keep_trailing_newline=False: one trailing newline of the source is dropped.
        if (src.EndsWith("\r\n", StringComparison.Ordinal)) src = src[..^2];
        else if (src.EndsWith('\n')) src = src[..^1];
        var pieces = new List<Piece>();
        var text = new StringBuilder();
        var textLine = 1;
        var line = 1;
        var i = 0;
        var trimNextText = false; // "-}}" / "-%}": strip all leading whitespace of the next text
        var trimNextNewline = false; // trim_blocks: drop one newline after a block tag
        while (i < src.Length)
        {
            var open = NextTagStart(src, i);
            var chunk = src[i..(open < 0 ? src.Length : open)];
            if (trimNextText) chunk = chunk.TrimStart();
            else if (trimNextNewline)
            {
                if (chunk.StartsWith("\r\n", StringComparison.Ordinal)) chunk = chunk[2..];
                else if (chunk.StartsWith('\n')) chunk = chunk[1..];
            }
            trimNextText = trimNextNewline = false;
            text.Append(chunk);
            line += Count(src, i, open < 0 ? src.Length : open);
            if (open < 0) break;

            var kind = src[open + 1]; // '{', '%' or '#'
            var p = open + 2;
            var minus = p < src.Length && src[p] == '-';
            var plus = p < src.Length && src[p] == '+';
            if (minus || plus) p++;
            if (minus) TrimEnd(text);
            else if (!plus && kind != '{') LStrip(text);
            if (text.Length > 0) pieces.Add(new TextPiece(text.ToString(), textLine));
            text.Clear();
            var tagLine = line;

            if (kind == '#')
            {
                var close = src.IndexOf("#}", p, StringComparison.Ordinal);
                if (close < 0) throw new JinjaException("comment is not closed", tagLine);
                trimNextText = src[close - 1] == '-';
                trimNextNewline = !trimNextText;
                line += Count(src, open, close + 2);
                i = close + 2;
                textLine = line;
                continue;
            }

            var closeText = kind == '{' ? "}}" : "%}";
            var (tokens, end, rtrim) = LexTag(src, p, closeText, ref line, tagLine);
            pieces.Add(kind == '{' ? new PrintPiece(tokens, tagLine) : new StmtPiece(tokens, tagLine));
            trimNextText = rtrim;
            trimNextNewline = !rtrim && kind == '%';
            i = end;
            textLine = line;
        }
        if (text.Length > 0) pieces.Add(new TextPiece(text.ToString(), textLine));
        return pieces;
    }

    private static int NextTagStart(string s, int from)
    {
        for (var k = s.IndexOf('{', from); k >= 0 && k + 1 < s.Length; k = s.IndexOf('{', k + 1))
            if (s[k + 1] is '{' or '%' or '#') return k;
        return -1;
    }

    private static int Count(string s, int from, int to)
    {
        var n = 0;
        for (var k = from; k < to; k++) if (s[k] == '\n') n++;
        return n;
    }

    private static void TrimEnd(StringBuilder sb)
    {
        var n = sb.Length;
        while (n > 0 && char.IsWhiteSpace(sb[n - 1])) n--;
        sb.Length = n;
    }

    /// <summary>lstrip_blocks: spaces and tabs between the start of the line and a block tag are removed.</summary>
    private static void LStrip(StringBuilder sb)
    {
        var n = sb.Length;
        while (n > 0 && sb[n - 1] is ' ' or '\t') n--;
        if (n == 0 || sb[n - 1] == '\n') sb.Length = n;
    }

    private static (List<Tok> Tokens, int End, bool RTrim) LexTag(string s, int p, string close, ref int line, int tagLine)
    {
        var toks = new List<Tok>();
        while (true)
        {
            while (p < s.Length && char.IsWhiteSpace(s[p]))
            {
                if (s[p] == '\n') line++;
                p++;
            }
            if (p >= s.Length) throw new JinjaException($"tag is not closed (expected '{close}')", tagLine);
            if (s[p] == '-' && string.CompareOrdinal(s, p + 1, close, 0, 2) == 0) return (toks, p + 3, true);
            if (s[p] == '+' && string.CompareOrdinal(s, p + 1, close, 0, 2) == 0) return (toks, p + 3, false);
            if (string.CompareOrdinal(s, p, close, 0, 2) == 0) return (toks, p + 2, false);
            var c = s[p];
            if (c is '\'' or '"')
            {
                var sb = new StringBuilder();
                var q = p + 1;
                while (true)
                {
                    if (q >= s.Length) throw new JinjaException("string literal is not closed", line);
                    var ch = s[q];
                    if (ch == c) break;
                    if (ch == '\n') line++;
                    if (ch == '\\' && q + 1 < s.Length)
                    {
                        q++;
                        sb.Append(s[q] switch
                        {
                            'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', '\\' => '\\', '\'' => '\'', '"' => '"',
                            var other => other == '\n' ? '\n' : throw new JinjaException($"unsupported escape '\\{other}'", line),
                        });
                    }
                    else sb.Append(ch);
                    q++;
                }
                toks.Add(new Tok(TokKind.String, sb.ToString(), line));
                p = q + 1;
            }
            else if (char.IsDigit(c))
            {
                var q = p;
                while (q < s.Length && (char.IsDigit(s[q]) || s[q] == '_')) q++;
                var isFloat = q + 1 < s.Length && s[q] == '.' && char.IsDigit(s[q + 1]);
                if (isFloat)
                {
                    q++;
                    while (q < s.Length && char.IsDigit(s[q])) q++;
                }
                toks.Add(new Tok(isFloat ? TokKind.Float : TokKind.Int, s[p..q].Replace("_", ""), line));
                p = q;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var q = p;
                while (q < s.Length && (char.IsLetterOrDigit(s[q]) || s[q] == '_')) q++;
                toks.Add(new Tok(TokKind.Name, s[p..q], line));
                p = q;
            }
            else
            {
                var two = p + 1 < s.Length ? s.Substring(p, 2) : "";
                var op = two is "==" or "!=" or "<=" or ">=" or "//" or "**" ? two : c.ToString();
                if ("+-*/%~=<>()[]{},:.|!".IndexOf(op[0], StringComparison.Ordinal) < 0)
                    throw new JinjaException($"unexpected character '{c}'", line);
                toks.Add(new Tok(TokKind.Op, op, line));
                p += op.Length;
            }
        }
    }

    internal static string Describe(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A template syntax or rendering error, with the template line.</summary>
public sealed class JinjaException(string message, int line) : OpenBookException($"chat template line {line}: {message}")
{
    /// <summary>1-based line in the template.</summary>
    public int Line { get; } = line;
}
