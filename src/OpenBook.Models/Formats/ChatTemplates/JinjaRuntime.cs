using System.Globalization;
using System.Text;

namespace OpenBook.Models.Formats.ChatTemplates;

/// <summary>Jinja's undefined value: prints as "", is falsy, and attribute access on it stays undefined.</summary>
internal sealed class Undefined
{
    public static readonly Undefined Instance = new();
    public override string ToString() => "";
}

/// <summary>The object made by <c>namespace(...)</c>; its attributes can be assigned with <c>set ns.x = …</c>.</summary>
internal sealed class JinjaNamespace : Dictionary<string, object?>;

/// <summary>A callable value (global function, macro, bound method).</summary>
internal delegate object? JinjaCallable(List<object?> args, Dictionary<string, object?> kwargs);

/// <summary>Evaluates a parsed template. Values: null (none), <see cref="Undefined"/>, string, long, double, bool,
/// <c>List&lt;object?&gt;</c>, <c>Dictionary&lt;string, object?&gt;</c> and callables.</summary>
internal sealed class JinjaRuntime
{
    private readonly List<Dictionary<string, object?>> _scopes = [];
    private readonly Func<DateTime> _now;
    private readonly ChatTemplateLimits _limits;
    private int _callDepth, _evalDepth;
    private long _iterations, _appended;

    /// <summary>The string-size limit of the render running on this thread (read by filters before they allocate).</summary>
    [ThreadStatic] internal static long MaxChars;
    [ThreadStatic] private static int _valueDepth;

    public JinjaRuntime(IReadOnlyDictionary<string, object?> variables, Func<DateTime> now, ChatTemplateLimits? limits = null)
    {
        _now = now;
        _limits = limits ?? ChatTemplateLimits.Default;
        MaxChars = _limits.MaxOutputChars;
        var globals = new Dictionary<string, object?>
        {
            ["raise_exception"] = (JinjaCallable)((a, _) => throw new ChatTemplateException(Str(a.FirstOrDefault()))),
            ["namespace"] = (JinjaCallable)((_, kw) => { var ns = new JinjaNamespace(); foreach (var (k, v) in kw) ns[k] = v; return ns; }),
            ["range"] = (JinjaCallable)((a, _) => Range(a, _limits.MaxLoopIterations)),
            ["strftime_now"] = (JinjaCallable)((a, _) => StrFTime(_now(), Str(a.FirstOrDefault()))),
        };
        _scopes.Add(globals);
        _scopes.Add(new Dictionary<string, object?>(variables));
    }

    public void Render(List<Node> nodes, StringBuilder sb)
    {
        MaxChars = _limits.MaxOutputChars;
        foreach (var n in nodes) Exec(n, sb);
    }

    private JinjaException Limit(string what, int line) => new($"{what} (a template limit; see ChatTemplateLimits)", line);

    /// <summary>Appends with the output limits: one builder, and everything appended in the render together.</summary>
    private void Append(StringBuilder sb, string text, int line)
    {
        _appended += text.Length;
        if (sb.Length + (long)text.Length > _limits.MaxOutputChars || _appended > 4 * _limits.MaxOutputChars)
            throw Limit($"output longer than {_limits.MaxOutputChars} characters", line);
        sb.Append(text);
    }

    private void Exec(Node node, StringBuilder sb)
    {
        switch (node)
        {
            case TextNode t: Append(sb, t.Text, t.Line); break;
            case OutputNode o: Append(sb, Str(Eval(o.Value)), o.Line); break;
            case IfNode f:
                foreach (var (cond, body) in f.Branches)
                    if (cond is null || Truthy(Eval(cond))) { Render(body, sb); break; }
                break;
            case ForNode f: ExecFor(f, sb); break;
            case SetNode s:
            {
                var v = Eval(s.Value);
                if (s.Attr is null) _scopes[^1][s.Name] = v;
                else if (Lookup(s.Name) is JinjaNamespace ns) ns[s.Attr] = v;
                else throw new JinjaException($"'{s.Name}' is not a namespace; cannot set '{s.Name}.{s.Attr}'", s.Line);
                break;
            }
            case SetBlockNode sb2:
            {
                var inner = new StringBuilder();
                Render(sb2.Body, inner);
                _scopes[^1][sb2.Name] = inner.ToString();
                break;
            }
            case MacroNode m: _scopes[^1][m.Name] = MakeMacro(m); break;
        }
    }

    private JinjaCallable MakeMacro(MacroNode m) => (args, kwargs) =>
    {
        if (_callDepth >= _limits.MaxCallDepth) throw Limit($"macro '{m.Name}' called recursively deeper than {_limits.MaxCallDepth} levels", m.Line);
        _callDepth++;
        try { return CallMacro(m, args, kwargs); }
        finally { _callDepth--; }
    };

    private string CallMacro(MacroNode m, List<object?> args, Dictionary<string, object?> kwargs)
    {
        var scope = new Dictionary<string, object?>();
        for (var i = 0; i < m.Params.Count; i++)
        {
            var (name, dflt) = m.Params[i];
            scope[name] = i < args.Count ? args[i] : kwargs.TryGetValue(name, out var kv) ? kv : dflt is null ? Undefined.Instance : Eval(dflt);
        }
        _scopes.Add(scope);
        try
        {
            var sb = new StringBuilder();
            foreach (var n in m.Body) Exec(n, sb);
            return sb.ToString();
        }
        finally { _scopes.RemoveAt(_scopes.Count - 1); }
    }

    private void ExecFor(ForNode f, StringBuilder sb)
    {
        var items = Iterate(Eval(f.Iterable), f.Line).ToList();
        var scope = new Dictionary<string, object?>();
        _scopes.Add(scope);
        try
        {
            if (f.Filter is not null)
                items = items.Where(item => { Tick(f.Line); Bind(f, scope, item); return Truthy(Eval(f.Filter)); }).ToList();
            for (var i = 0; i < items.Count; i++)
            {
                Tick(f.Line);
                Bind(f, scope, items[i]);
                scope["loop"] = new Dictionary<string, object?>
                {
                    ["index"] = (long)(i + 1), ["index0"] = (long)i, ["first"] = i == 0, ["last"] = i == items.Count - 1,
                    ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                    ["previtem"] = i > 0 ? items[i - 1] : Undefined.Instance,
                    ["nextitem"] = i + 1 < items.Count ? items[i + 1] : Undefined.Instance,
                };
                Render(f.Body, sb);
            }
        }
        finally { _scopes.RemoveAt(_scopes.Count - 1); }
        if (items.Count == 0) Render(f.Else, sb);
    }

    private void Tick(int line)
    {
        if (++_iterations > _limits.MaxLoopIterations) throw Limit($"more than {_limits.MaxLoopIterations} loop iterations", line);
    }

    private static void Bind(ForNode f, Dictionary<string, object?> scope, object? item)
    {
        if (f.Targets.Count == 1) { scope[f.Targets[0]] = item; return; }
        var parts = item as List<object?> ?? throw new JinjaException("cannot unpack a non-sequence in 'for'", f.Line);
        if (parts.Count != f.Targets.Count) throw new JinjaException($"cannot unpack {parts.Count} values into {f.Targets.Count} names", f.Line);
        for (var k = 0; k < parts.Count; k++) scope[f.Targets[k]] = parts[k];
    }

    private object? Lookup(string name)
    {
        for (var i = _scopes.Count - 1; i >= 0; i--)
            if (_scopes[i].TryGetValue(name, out var v)) return v;
        return Undefined.Instance;
    }

    // ---- expressions ----

    private object? Eval(Expr e)
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack(); // backstop for small thread stacks
        if (++_evalDepth > _limits.MaxEvalDepth)
        {
            _evalDepth = 0;
            throw Limit($"expression evaluated deeper than {_limits.MaxEvalDepth} levels", e.Line);
        }
        try
        {
            var v = EvalCore(e);
            if (v is string s && s.Length > _limits.MaxOutputChars) throw Limit($"a string longer than {_limits.MaxOutputChars} characters", e.Line);
            if (v is List<object?> l && l.Count > _limits.MaxLoopIterations) throw Limit($"a list longer than {_limits.MaxLoopIterations} items", e.Line);
            return v;
        }
        finally { if (_evalDepth > 0) _evalDepth--; }
    }

    private object? EvalCore(Expr e)
    {
        switch (e)
        {
            case Literal l: return l.Value;
            case NameExpr n: return Lookup(n.Name);
            case ListExpr l: return l.Items.Select(Eval).ToList();
            case DictExpr d:
            {
                var r = new Dictionary<string, object?>();
                foreach (var (k, v) in d.Items) r[Str(Eval(k))] = Eval(v);
                return r;
            }
            case GetAttr g: return GetAttribute(Eval(g.Target), g.Name, g.Line);
            case GetItem g: return Index(Eval(g.Target), Eval(g.Key), g.Line);
            case SliceExpr s: return Slice(Eval(s.Target), s.Start is null ? null : Eval(s.Start), s.Stop is null ? null : Eval(s.Stop), s.Step is null ? null : Eval(s.Step), s.Line);
            case CallExpr c:
            {
                var target = Eval(c.Target);
                if (target is not JinjaCallable fn)
                    throw new JinjaException($"{Describe(c.Target)} is not callable", c.Line);
                return fn(c.Args.Select(Eval).ToList(), c.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value)));
            }
            case FilterExpr f: return JinjaFilters.Apply(f.Name, Eval(f.Target), f.Args.Select(Eval).ToList(), f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value)), f.Line);
            case TestExpr t: return JinjaFilters.Test(t.Name, Eval(t.Target), t.Args.Select(Eval).ToList(), t.Line) != t.Negated;
            case UnaryExpr u:
            {
                var v = Eval(u.Operand);
                return u.Op switch
                {
                    "not" => !Truthy(v),
                    "-" => v switch { long i => (object)(-i), double d => -d, _ => throw new JinjaException("unary '-' needs a number", u.Line) },
                    _ => v,
                };
            }
            case BinaryExpr b: return Binary(b);
            case CondExpr c: return Truthy(Eval(c.Cond)) ? Eval(c.Then) : c.Else is null ? Undefined.Instance : Eval(c.Else);
            default: throw new JinjaException("unsupported expression", e.Line);
        }
    }

    private static string Describe(Expr e) => e switch
    {
        NameExpr n => $"'{n.Name}'",
        GetAttr g => $"'{g.Name}'",
        _ => "expression",
    };

    private object? Binary(BinaryExpr b)
    {
        if (b.Op == "and") { var l = Eval(b.Left); return Truthy(l) ? Eval(b.Right) : l; }
        if (b.Op == "or") { var l = Eval(b.Left); return Truthy(l) ? l : Eval(b.Right); }
        var a = Eval(b.Left);
        var c = Eval(b.Right);
        switch (b.Op)
        {
            case "~": return Concat(Str(a), Str(c), b.Line);
            case "==": return ValuesEqual(a, c);
            case "!=": return !ValuesEqual(a, c);
            case "in": return Contains(c, a, b.Line);
            case "<" or ">" or "<=" or ">=":
            {
                var cmp = Compare(a, c, b.Line);
                return b.Op switch { "<" => cmp < 0, ">" => cmp > 0, "<=" => cmp <= 0, _ => cmp >= 0 };
            }
            case "+":
                if (a is string sa && c is string sc) return Concat(sa, sc, b.Line);
                if (a is List<object?> la && c is List<object?> lc)
                {
                    if ((long)la.Count + lc.Count > _limits.MaxLoopIterations) throw Limit($"a list longer than {_limits.MaxLoopIterations} items", b.Line);
                    return la.Concat(lc).ToList();
                }
                break;
            case "*":
                if (a is string rs && c is long n)
                {
                    if (n > 0 && rs.Length > 0 && (n > _limits.MaxOutputChars || rs.Length * n > _limits.MaxOutputChars))
                        throw Limit($"string repetition longer than {_limits.MaxOutputChars} characters", b.Line);
                    return string.Concat(Enumerable.Repeat(rs, (int)Math.Max(0, n)));
                }
                break;
        }
        if (IsNumber(a) && IsNumber(c))
        {
            if (a is long x && c is long y)
                return b.Op switch
                {
                    "+" => (object)(x + y), "-" => x - y, "*" => x * y, "/" => (double)x / y,
                    "//" => (long)Math.Floor((double)x / y), "%" => ((x % y) + y) % y, "**" => (long)Math.Pow(x, y),
                    _ => throw new JinjaException($"unsupported operator '{b.Op}'", b.Line),
                };
            var dx = Convert.ToDouble(a, CultureInfo.InvariantCulture);
            var dy = Convert.ToDouble(c, CultureInfo.InvariantCulture);
            return b.Op switch
            {
                "+" => dx + dy, "-" => dx - dy, "*" => dx * dy, "/" => dx / dy, "//" => Math.Floor(dx / dy),
                "%" => dx - dy * Math.Floor(dx / dy), "**" => Math.Pow(dx, dy),
                _ => throw new JinjaException($"unsupported operator '{b.Op}'", b.Line),
            };
        }
        throw new JinjaException($"cannot apply '{b.Op}' to {TypeName(a)} and {TypeName(c)}", b.Line);
    }

    private string Concat(string a, string b, int line)
    {
        if ((long)a.Length + b.Length > _limits.MaxOutputChars) throw Limit($"a string longer than {_limits.MaxOutputChars} characters", line);
        return a + b;
    }

    private object? GetAttribute(object? target, string name, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> d:
                if (d.TryGetValue(name, out var v)) return v;
                return (object?)DictMethod(d, name) ?? Undefined.Instance;
            case string s: return (object?)StringMethod(s, name, line) ?? Undefined.Instance;
            case List<object?> l when name == "append": return (JinjaCallable)((a, _) => { l.Add(a.FirstOrDefault()); return null; });
            default: return Undefined.Instance;
        }
    }

    private static JinjaCallable? DictMethod(Dictionary<string, object?> d, string name) => name switch
    {
        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => d.Keys.Select(k => (object?)k).ToList(),
        "values" => (_, _) => d.Values.ToList(),
        "get" => (a, _) => d.TryGetValue(Str(a[0]), out var v) ? v : a.Count > 1 ? a[1] : null,
        _ => null,
    };

    private static JinjaCallable? StringMethod(string s, string name, int line) => name switch
    {
        "strip" => (a, _) => a.Count > 0 && a[0] is string cs ? s.Trim(cs.ToCharArray()) : s.Trim(),
        "lstrip" => (a, _) => a.Count > 0 && a[0] is string cs ? s.TrimStart(cs.ToCharArray()) : s.TrimStart(),
        "rstrip" => (a, _) => a.Count > 0 && a[0] is string cs ? s.TrimEnd(cs.ToCharArray()) : s.TrimEnd(),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => JinjaFilters.Title(s),
        "capitalize" => (_, _) => JinjaFilters.Capitalize(s),
        "startswith" => (a, _) => s.StartsWith(Str(a[0]), StringComparison.Ordinal),
        "endswith" => (a, _) => s.EndsWith(Str(a[0]), StringComparison.Ordinal),
        "replace" => (a, _) => JinjaFilters.Replace(s, Str(a[0]), Str(a[1]), line),
        "split" => (a, _) => (a.Count > 0 && a[0] is string sep
            ? s.Split(sep)
            : s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).Select(x => (object?)x).ToList(),
        "find" => (a, _) => (long)s.IndexOf(Str(a[0]), StringComparison.Ordinal),
        "count" => (a, _) => (long)CountOccurrences(s, Str(a[0])),
        _ => null,
    };

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        var n = 0;
        for (var i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    private static object? Index(object? target, object? key, int line)
    {
        switch (target)
        {
            case Dictionary<string, object?> d:
                return key is not null && d.TryGetValue(Str(key), out var v) ? v : Undefined.Instance;
            case List<object?> l when key is long i:
            {
                var k = i < 0 ? l.Count + i : i;
                return k >= 0 && k < l.Count ? l[(int)k] : Undefined.Instance;
            }
            case string s when key is long i:
            {
                var k = i < 0 ? s.Length + i : i;
                return k >= 0 && k < s.Length ? s[(int)k].ToString() : Undefined.Instance;
            }
            case Undefined or null: return Undefined.Instance;
            default: throw new JinjaException($"cannot index {TypeName(target)} with {TypeName(key)}", line);
        }
    }

    private static object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        var items = target switch
        {
            List<object?> l => l,
            string s => s.Select(ch => (object?)ch.ToString()).ToList(),
            _ => throw new JinjaException($"cannot slice {TypeName(target)}", line),
        };
        var n = items.Count;
        var st = step is long sv ? sv : 1;
        if (st == 0) throw new JinjaException("slice step cannot be zero", line);
        long Norm(object? v, long dflt) => v is long x ? (x < 0 ? Math.Max(x + n, st < 0 ? -1 : 0) : Math.Min(x, st < 0 ? n - 1 : n)) : dflt;
        var a = Norm(start, st > 0 ? 0 : n - 1);
        var b = Norm(stop, st > 0 ? n : -1);
        var r = new List<object?>();
        for (var i = a; st > 0 ? i < b : i > b; i += st) r.Add(items[(int)i]);
        return target is string ? string.Concat(r) : r;
    }

    // ---- value helpers (shared with filters) ----

    internal static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long i => i != 0,
        double d => d != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    internal static bool IsNumber(object? v) => v is long or double;

    internal static string TypeName(object? v) => v switch
    {
        null => "none", Undefined => "undefined", string => "string", long => "integer", double => "float", bool => "boolean",
        List<object?> => "list", Dictionary<string, object?> => "dict", _ => "object",
    };

    internal static bool ValuesEqual(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return Convert.ToDouble(a, CultureInfo.InvariantCulture) == Convert.ToDouble(b, CultureInfo.InvariantCulture);
        if (a is List<object?> la && b is List<object?> lb) return la.Count == lb.Count && Nested(() => la.Zip(lb).All(p => ValuesEqual(p.First, p.Second)));
        return Equals(a, b);
    }

    internal static int Compare(object? a, object? b, int line)
    {
        if (IsNumber(a) && IsNumber(b)) return Convert.ToDouble(a, CultureInfo.InvariantCulture).CompareTo(Convert.ToDouble(b, CultureInfo.InvariantCulture));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        throw new JinjaException($"cannot compare {TypeName(a)} with {TypeName(b)}", line);
    }

    private static bool Contains(object? container, object? item, int line) => container switch
    {
        string s => s.Contains(Str(item), StringComparison.Ordinal),
        List<object?> l => l.Any(x => ValuesEqual(x, item)),
        Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
        Undefined or null => false,
        _ => throw new JinjaException($"'in' needs a string, list or dict, not {TypeName(container)}", line),
    };

    internal static IEnumerable<object?> Iterate(object? v, int line) => v switch
    {
        List<object?> l => l,
        Dictionary<string, object?> d => d.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        Undefined or null => [],
        _ => throw new JinjaException($"cannot iterate over {TypeName(v)}", line),
    };

    /// <summary>Python's str() of a value.</summary>
    internal static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        string s => s,
        bool b => b ? "True" : "False",
        long i => i.ToString(CultureInfo.InvariantCulture),
        double d => PyFloat(d),
        List<object?> l => Nested(() => "[" + string.Join(", ", l.Select(Repr)) + "]"),
        Dictionary<string, object?> d => Nested(() => "{" + string.Join(", ", d.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}"),
        _ => v.ToString() ?? "",
    };

    /// <summary>Runs a step into a nested value; a list that contains itself would otherwise recurse forever.</summary>
    internal static T Nested<T>(Func<T> step)
    {
        if (++_valueDepth > 100)
        {
            _valueDepth = 0;
            throw new JinjaException("a value nested deeper than 100 levels (a list that contains itself?)", 0);
        }
        try { return step(); }
        finally { if (_valueDepth > 0) _valueDepth--; }
    }

    private static string Repr(object? v) => v is string s ? "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'" : Str(v);

    internal static string PyFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s : s + ".0";
    }

    private static List<object?> Range(List<object?> a, long maxItems)
    {
        if (a.Count is < 1 or > 3 || a.Any(x => x is not long)) throw new JinjaException("range() takes one to three integers", 0);
        long start = 0, stop, step = 1;
        if (a.Count == 1) stop = (long)a[0]!;
        else { start = (long)a[0]!; stop = (long)a[1]!; if (a.Count > 2) step = (long)a[2]!; }
        if (step == 0) throw new JinjaException("range() step must not be zero", 0);
        var count = step > 0 ? (stop > start ? ((double)stop - start) / step : 0) : (start > stop ? ((double)start - stop) / -step : 0);
        if (count > maxItems) throw new JinjaException($"range() of more than {maxItems} items (a template limit; see ChatTemplateLimits)", 0);
        var r = new List<object?>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step) r.Add(i);
        return r;
    }

    /// <summary>Python strftime for the directives chat templates use (%d %b %B %Y %m %H %M %S %y %A %a %j %%).</summary>
    internal static string StrFTime(DateTime t, string fmt)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < fmt.Length; i++)
        {
            if (fmt[i] != '%' || i + 1 >= fmt.Length) { sb.Append(fmt[i]); continue; }
            var c = fmt[++i];
            sb.Append(c switch
            {
                'd' => t.ToString("dd", CultureInfo.InvariantCulture), 'b' => t.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => t.ToString("MMMM", CultureInfo.InvariantCulture), 'Y' => t.ToString("yyyy", CultureInfo.InvariantCulture),
                'y' => t.ToString("yy", CultureInfo.InvariantCulture), 'm' => t.ToString("MM", CultureInfo.InvariantCulture),
                'H' => t.ToString("HH", CultureInfo.InvariantCulture), 'M' => t.ToString("mm", CultureInfo.InvariantCulture),
                'S' => t.ToString("ss", CultureInfo.InvariantCulture), 'A' => t.ToString("dddd", CultureInfo.InvariantCulture),
                'a' => t.ToString("ddd", CultureInfo.InvariantCulture), 'j' => t.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => "%" + c,
            });
        }
        return sb.ToString();
    }
}
