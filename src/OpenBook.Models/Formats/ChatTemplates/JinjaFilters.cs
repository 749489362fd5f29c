using System.Globalization;
using System.Text;
using static OpenBook.Models.Formats.ChatTemplates.JinjaRuntime;

namespace OpenBook.Models.Formats.ChatTemplates;

/// <summary>The Jinja filters and tests used by chat templates, with Jinja2 / transformers semantics.</summary>
internal static class JinjaFilters
{
    public static object? Apply(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Arg(int i, string kw, object? dflt = null) => i < args.Count ? args[i] : kwargs.TryGetValue(kw, out var x) ? x : dflt;
        switch (name)
        {
            case "trim": return Arg(0, "chars") is string cs ? Str(v).Trim(cs.ToCharArray()) : Str(v).Trim();
            case "upper": return Str(v).ToUpperInvariant();
            case "lower": return Str(v).ToLowerInvariant();
            case "title": return Title(Str(v));
            case "capitalize": return Capitalize(Str(v));
            case "string": return Str(v);
            case "safe": return v;
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.Length, System.Collections.ICollection c => (long)c.Count, Undefined or null => 0L,
                    _ => throw new JinjaException($"object of type {TypeName(v)} has no length", line),
                };
            case "first": return Iterate(v, line).DefaultIfEmpty(Undefined.Instance).First();
            case "last": return v is List<object?> l && l.Count > 0 ? l[^1] : v is string s2 && s2.Length > 0 ? s2[^1].ToString() : Undefined.Instance;
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Iterate(v, line).Reverse().ToList();
            case "list": return Iterate(v, line).ToList();
            case "join":
            {
                var sep = Str(Arg(0, "d", ""));
                var parts = Iterate(v, line).Select(Str).ToList();
                long total = parts.Sum(p => (long)p.Length) + (long)sep.Length * Math.Max(0, parts.Count - 1);
                if (total > JinjaRuntime.MaxChars) throw new JinjaException($"join result longer than {JinjaRuntime.MaxChars} characters (a template limit)", line);
                return string.Join(sep, parts);
            }
            case "default" or "d":
            {
                var dflt = Arg(0, "default_value", "");
                var boolean = Truthy(Arg(1, "boolean", false));
                return v is Undefined || (boolean && !Truthy(v)) ? dflt : v;
            }
            case "int":
                return v switch
                {
                    long i => i, double d => (long)d, bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) => i,
                    _ => Arg(0, "default", 0L),
                };
            case "float":
                return v switch
                {
                    long i => (double)i, double d => d,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                    _ => Arg(0, "default", 0.0),
                };
            case "abs": return v switch { long i => (object)Math.Abs(i), double d => Math.Abs(d), _ => v };
            case "replace": return Replace(Str(v), Str(Arg(0, "old")), Str(Arg(1, "new")), line);
            case "items":
                return v is Dictionary<string, object?> d2 ? d2.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList() : new List<object?>();
            case "tojson":
            {
                var indent = Arg(0, "indent") is long n ? (int?)n : null;
                var sb = new StringBuilder();
                ToJson(v, indent, 0, sb, line);
                return sb.ToString();
            }
            case "selectattr" or "rejectattr":
            {
                var attr = Str(Arg(0, "attr"));
                var test = args.Count > 1 ? Str(args[1]) : null;
                var testArgs = args.Skip(2).ToList();
                var want = name == "selectattr";
                return Iterate(v, line).Where(item =>
                {
                    var a = item is Dictionary<string, object?> d ? d.GetValueOrDefault(attr, Undefined.Instance) : Undefined.Instance;
                    return (test is null ? Truthy(a) : Test(test, a, testArgs, line)) == want;
                }).ToList();
            }
            case "map":
            {
                if (kwargs.TryGetValue("attribute", out var attr))
                    return Iterate(v, line).Select(item => item is Dictionary<string, object?> d ? d.GetValueOrDefault(Str(attr), Undefined.Instance) : Undefined.Instance).ToList();
                var filter = Str(Arg(0, "filter"));
                return Iterate(v, line).Select(item => Apply(filter, item, args.Skip(1).ToList(), [], line)).ToList();
            }
            case "indent":
            {
                var w0 = Arg(0, "width", 4L) is long w ? w : 4;
                var first = Truthy(Arg(1, "first", false));
                var lines = Str(v).Split('\n');
                if (w0 < 0 || w0 * (lines.Length + 1) + Str(v).Length > JinjaRuntime.MaxChars)
                    throw new JinjaException($"indent result longer than {JinjaRuntime.MaxChars} characters (a template limit)", line);
                var pad = new string(' ', (int)w0);
                return string.Join("\n", lines.Select((l, i) => (i > 0 || first) && l.Length > 0 ? pad + l : l));
            }
            default:
                throw new JinjaException($"unsupported filter '{name}'", line);
        }
    }

    public static bool Test(string name, object? v, List<object?> args, int line) => name switch
    {
        "defined" => v is not Undefined,
        "undefined" => v is Undefined,
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is Dictionary<string, object?>,
        "sequence" or "iterable" => v is List<object?> or string or Dictionary<string, object?>,
        "callable" => v is JinjaCallable,
        "odd" => v is long o && o % 2 != 0,
        "even" => v is long e && e % 2 == 0,
        "eq" or "equalto" or "==" => ValuesEqual(v, args.FirstOrDefault()),
        "ne" or "!=" => !ValuesEqual(v, args.FirstOrDefault()),
        "in" => args.FirstOrDefault() switch
        {
            List<object?> l => l.Any(x => ValuesEqual(x, v)),
            string s => s.Contains(Str(v), StringComparison.Ordinal),
            Dictionary<string, object?> d => v is string k && d.ContainsKey(k),
            _ => false,
        },
        _ => throw new JinjaException($"unsupported test '{name}'", line),
    };

    internal static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    internal static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var prevLetter = false;
        foreach (var c in s)
        {
            sb.Append(prevLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    /// <summary>transformers' tojson: <c>json.dumps(x, ensure_ascii=False, indent=indent)</c>.</summary>
    /// <summary>str.replace with the size of the result checked before it is built (an empty 'old' inserts between every character).</summary>
    internal static string Replace(string s, string old, string replacement, int line)
    {
        long count = old.Length == 0 ? s.Length + 1L : CountOf(s, old);
        if (s.Length + count * (replacement.Length - (long)old.Length) > JinjaRuntime.MaxChars)
            throw new JinjaException($"replace result longer than {JinjaRuntime.MaxChars} characters (a template limit)", line);
        if (old.Length == 0) return replacement + string.Join(replacement, s.Select(c => c.ToString())) + (s.Length > 0 ? replacement : "");
        return s.Replace(old, replacement, StringComparison.Ordinal);
    }

    private static long CountOf(string s, string sub)
    {
        long n = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    internal static void ToJson(object? v, int? indent, int depth, StringBuilder sb, int line)
    {
        if (depth > 100) throw new JinjaException("tojson of a value nested deeper than 100 levels (a list that contains itself?)", line);
        if (sb.Length > JinjaRuntime.MaxChars) throw new JinjaException($"tojson result longer than {JinjaRuntime.MaxChars} characters (a template limit)", line);
        switch (v)
        {
            case null: sb.Append("null"); break;
            case Undefined: throw new JinjaException("cannot serialize an undefined value to JSON", line);
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long i: sb.Append(i.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(double.IsFinite(d) ? PyFloat(d) : d > 0 ? "Infinity" : d < 0 ? "-Infinity" : "NaN"); break;
            case string s: JsonString(s, sb); break;
            case List<object?> l:
                Container('[', ']', l.Count, k => ToJson(l[k], indent, depth + 1, sb, line));
                break;
            case Dictionary<string, object?> m:
            {
                var entries = m.ToList();
                Container('{', '}', entries.Count, k =>
                {
                    JsonString(entries[k].Key, sb);
                    sb.Append(": ");
                    ToJson(entries[k].Value, indent, depth + 1, sb, line);
                });
                break;
            }
            default: throw new JinjaException($"cannot serialize {TypeName(v)} to JSON", line);
        }

        void Container(char open, char close, int count, Action<int> item)
        {
            sb.Append(open);
            if (count == 0) { sb.Append(close); return; }
            for (var k = 0; k < count; k++)
            {
                if (indent is { } n) sb.Append(k == 0 ? "\n" : ",\n").Append(' ', n * (depth + 1));
                else if (k > 0) sb.Append(", ");
                item(k);
            }
            if (indent is { } n2) sb.Append('\n').Append(' ', n2 * depth);
            sb.Append(close);
        }
    }

    private static void JsonString(string s, StringBuilder sb)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
