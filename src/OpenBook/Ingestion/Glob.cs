using System.Text;
using System.Text.RegularExpressions;

namespace OpenBook.Ingestion;

/// <summary>
/// A path glob, gitignore-style, matched against '/'-separated paths relative to the walked root:
/// <c>*</c> any characters except '/', <c>?</c> one such character, <c>[abc]</c>/<c>[a-z]</c>/<c>[!x]</c> a class,
/// <c>**</c> any number of directories ("**/*.md", "drafts/**", "a/**/b"). A pattern without '/' matches the file
/// name at any depth ("*.md"); a pattern ending in '/' matches everything under such a directory ("drafts/").
/// Matching is case-insensitive.
/// </summary>
public sealed class Glob
{
    private readonly Regex _regex;

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>Compiles <paramref name="pattern"/>; throws <see cref="OpenBookException"/> when it is malformed.</summary>
    public Glob(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        Pattern = pattern;
        var p = pattern.Trim().Replace('\\', '/');
        if (p.Length == 0) throw new OpenBookException("empty glob pattern");
        if (p.StartsWith("./", StringComparison.Ordinal)) p = p[2..];
        if (p.EndsWith('/')) p += "**";
        bool anchored = p.Contains('/');
        if (p.StartsWith('/')) p = p[1..];
        var sb = new StringBuilder("^");
        if (!anchored) sb.Append("(?:.*/)?");
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '*' && i + 1 < p.Length && p[i + 1] == '*')
            {
                bool slashAfter = i + 2 < p.Length && p[i + 2] == '/';
                bool atSegmentStart = i == 0 || p[i - 1] == '/';
                if (atSegmentStart && slashAfter) { sb.Append("(?:.*/)?"); i += 2; }   // "**/" : zero or more directories
                else { sb.Append(".*"); i += 1; }                                       // "a/**" or "x**"
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else if (c == '[')
            {
                int close = i + 2 <= p.Length ? p.IndexOf(']', i + 2) : -1;
                if (close < 0) throw new OpenBookException($"glob '{pattern}': '[' without a closing ']'");
                var body = p[(i + 1)..close];
                sb.Append('[');
                if (body[0] is '!' or '^') { sb.Append('^'); body = body[1..]; }
                if (body.Length == 0) throw new OpenBookException($"glob '{pattern}': empty character class");
                sb.Append(body.Replace("\\", "\\\\").Replace("[", "\\[")).Append(']');
                i = close;
            }
            else sb.Append(Regex.Escape(c.ToString()));
        }
        sb.Append('$');
        try
        {
            _regex = new Regex(sb.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
        catch (ArgumentException e)
        {
            throw new OpenBookException($"glob '{pattern}': not a valid pattern ({e.Message})");
        }
    }

    /// <summary>Whether the relative path (either separator) matches.</summary>
    public bool IsMatch(string relativePath) => _regex.IsMatch(relativePath.Replace('\\', '/'));
}
