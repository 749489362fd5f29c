using System.Globalization;

namespace OpenBook.Models.Formats.ChatTemplates;

// ---- AST -------------------------------------------------------------------------------------------------

internal abstract record Node(int Line);
internal sealed record TextNode(string Text, int Line) : Node(Line);
internal sealed record OutputNode(Expr Value, int Line) : Node(Line);
internal sealed record IfNode(List<(Expr? Cond, List<Node> Body)> Branches, int Line) : Node(Line);
internal sealed record ForNode(List<string> Targets, Expr Iterable, Expr? Filter, List<Node> Body, List<Node> Else, int Line) : Node(Line);
internal sealed record SetNode(string Name, string? Attr, Expr Value, int Line) : Node(Line);
internal sealed record SetBlockNode(string Name, List<Node> Body, int Line) : Node(Line);
internal sealed record MacroNode(string Name, List<(string Name, Expr? Default)> Params, List<Node> Body, int Line) : Node(Line);

internal abstract record Expr(int Line);
internal sealed record Literal(object? Value, int Line) : Expr(Line);
internal sealed record NameExpr(string Name, int Line) : Expr(Line);
internal sealed record ListExpr(List<Expr> Items, int Line) : Expr(Line);
internal sealed record DictExpr(List<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);
internal sealed record GetAttr(Expr Target, string Name, int Line) : Expr(Line);
internal sealed record GetItem(Expr Target, Expr Key, int Line) : Expr(Line);
internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);
internal sealed record CallExpr(Expr Target, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
internal sealed record FilterExpr(Expr Target, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs, int Line) : Expr(Line);
internal sealed record TestExpr(Expr Target, string Name, List<Expr> Args, bool Negated, int Line) : Expr(Line);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line) : Expr(Line);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line) : Expr(Line);
internal sealed record CondExpr(Expr Cond, Expr Then, Expr? Else, int Line) : Expr(Line);

// ---- Parser ----------------------------------------------------------------------------------------------

/// <summary>Parses lexed pieces into a node tree (if/elif/else, for/else, set, set-block, macro, expressions).</summary>
internal sealed class JinjaParser
{
    private readonly List<Piece> _pieces;
    private readonly int _maxNesting;
    private int _pos, _depth;

    private JinjaParser(List<Piece> pieces, int maxNesting)
    {
        _pieces = pieces;
        _maxNesting = maxNesting;
    }

    public static List<Node> Parse(string source, int maxNesting = 64)
    {
        var p = new JinjaParser(JinjaLexer.Lex(source), maxNesting);
        var body = p.ParseBody(out var end);
        if (end is not null) throw new JinjaException($"unexpected '{{% {end.Value.Text} %}}'", end.Value.Line);
        return body;
    }

    /// <summary>Parses nodes until an end-ish statement (endif, elif, else, endfor, endset, endmacro) or the end.</summary>
    private List<Node> ParseBody(out Tok? stopper)
    {
        var nodes = new List<Node>();
        while (_pos < _pieces.Count)
        {
            var piece = _pieces[_pos];
            switch (piece)
            {
                case TextPiece t:
                    nodes.Add(new TextNode(t.Text, t.Line));
                    _pos++;
                    break;
                case PrintPiece pr:
                    _pos++;
                    var ex = new ExprParser(pr.Tokens, pr.Line, _maxNesting);
                    nodes.Add(new OutputNode(ex.ParseExpression(), pr.Line));
                    ex.ExpectEnd();
                    break;
                case StmtPiece st:
                    if (st.Tokens.Count == 0) throw new JinjaException("empty statement", st.Line);
                    var kw = st.Tokens[0];
                    if (kw.Text is "endif" or "elif" or "else" or "endfor" or "endset" or "endmacro")
                    {
                        stopper = kw;
                        return nodes;
                    }
                    _pos++;
                    if (++_depth > _maxNesting) throw new JinjaException($"blocks nested deeper than {_maxNesting} levels", st.Line);
                    nodes.Add(ParseStatement(st));
                    _depth--;
                    break;
            }
        }
        stopper = null;
        return nodes;
    }

    private Node ParseStatement(StmtPiece st)
    {
        var e = new ExprParser(st.Tokens, st.Line, _maxNesting);
        var kw = e.Next();
        switch (kw.Text)
        {
            case "if":
            {
                var branches = new List<(Expr?, List<Node>)>();
                var cond = e.ParseExpression();
                e.ExpectEnd();
                while (true)
                {
                    var body = ParseBody(out var stop);
                    branches.Add((cond, body));
                    if (stop is null) throw new JinjaException("'if' is not closed with 'endif'", st.Line);
                    var sp = (StmtPiece)_pieces[_pos++];
                    var se = new ExprParser(sp.Tokens, sp.Line, _maxNesting);
                    se.Next();
                    if (stop.Value.Text == "endif") { se.ExpectEnd(); break; }
                    if (stop.Value.Text == "elif") { cond = se.ParseExpression(); se.ExpectEnd(); continue; }
                    if (stop.Value.Text == "else")
                    {
                        se.ExpectEnd();
                        var elseBody = ParseBody(out var stop2);
                        branches.Add((null, elseBody));
                        if (stop2?.Text != "endif") throw new JinjaException("'else' must be followed by 'endif'", sp.Line);
                        _pos++;
                        break;
                    }
                    throw new JinjaException($"unexpected '{stop.Value.Text}' inside 'if'", sp.Line);
                }
                return new IfNode(branches, st.Line);
            }
            case "for":
            {
                var targets = new List<string> { e.ExpectName() };
                while (e.TryOp(",")) targets.Add(e.ExpectName());
                if (!e.Next().IsName("in")) throw new JinjaException("expected 'in' in 'for'", st.Line);
                var iterable = e.ParseExpression(allowCondWithoutElse: false, noTernary: true);
                Expr? filter = null;
                if (e.Peek.IsName("if")) { e.Next(); filter = e.ParseExpression(); }
                e.ExpectEnd();
                var body = ParseBody(out var stop);
                var elseBody = new List<Node>();
                if (stop?.Text == "else")
                {
                    _pos++;
                    elseBody = ParseBody(out stop);
                }
                if (stop?.Text != "endfor") throw new JinjaException("'for' is not closed with 'endfor'", st.Line);
                _pos++;
                return new ForNode(targets, iterable, filter, body, elseBody, st.Line);
            }
            case "set":
            {
                var name = e.ExpectName();
                string? attr = null;
                if (e.TryOp(".")) attr = e.ExpectName();
                if (e.AtEnd && attr is null)
                {
                    var body = ParseBody(out var stop);
                    if (stop?.Text != "endset") throw new JinjaException("'set' block is not closed with 'endset'", st.Line);
                    _pos++;
                    return new SetBlockNode(name, body, st.Line);
                }
                e.ExpectOp("=");
                var value = e.ParseExpression();
                e.ExpectEnd();
                return new SetNode(name, attr, value, st.Line);
            }
            case "macro":
            {
                var name = e.ExpectName();
                e.ExpectOp("(");
                var ps = new List<(string, Expr?)>();
                while (!e.TryOp(")"))
                {
                    var pn = e.ExpectName();
                    Expr? dflt = e.TryOp("=") ? e.ParseExpression() : null;
                    ps.Add((pn, dflt));
                    if (!e.TryOp(",")) { e.ExpectOp(")"); break; }
                }
                e.ExpectEnd();
                var body = ParseBody(out var stop);
                if (stop?.Text != "endmacro") throw new JinjaException("'macro' is not closed with 'endmacro'", st.Line);
                _pos++;
                return new MacroNode(name, ps, body, st.Line);
            }
            default:
                throw new JinjaException($"unsupported statement '{kw.Text}'", st.Line);
        }
    }
}

/// <summary>Recursive-descent expression parser with Jinja2's precedence.</summary>
internal sealed class ExprParser(List<Tok> toks, int line, int maxNesting = 64)
{
    private int _i, _depth;

    /// <summary>Enters one level of nesting; past <c>maxNesting</c> the template is refused (no stack overflow).</summary>
    private void Enter()
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        if (++_depth > maxNesting) throw new JinjaException($"expression nested deeper than {maxNesting} levels", Line);
    }

    public Tok Peek => _i < toks.Count ? toks[_i] : new Tok(TokKind.End, "", Line);
    public bool AtEnd => _i >= toks.Count;
    private int Line => _i < toks.Count ? toks[_i].Line : (toks.Count > 0 ? toks[^1].Line : line);

    public Tok Next()
    {
        var t = Peek;
        if (t.Kind == TokKind.End) throw new JinjaException("unexpected end of tag", Line);
        _i++;
        return t;
    }

    public bool TryOp(string op)
    {
        if (!Peek.Is(op)) return false;
        _i++;
        return true;
    }

    public void ExpectOp(string op)
    {
        if (!TryOp(op)) throw new JinjaException($"expected '{op}' but found {Peek}", Line);
    }

    public string ExpectName()
    {
        var t = Peek;
        if (t.Kind != TokKind.Name) throw new JinjaException($"expected a name but found {t}", Line);
        _i++;
        return t.Text;
    }

    public void ExpectEnd()
    {
        if (!AtEnd) throw new JinjaException($"unexpected {Peek}", Line);
    }

    public Expr ParseExpression(bool allowCondWithoutElse = true, bool noTernary = false)
    {
        Enter();
        try { return ParseExpressionCore(allowCondWithoutElse, noTernary); }
        finally { _depth--; }
    }

    private Expr ParseExpressionCore(bool allowCondWithoutElse, bool noTernary)
    {
        var e = ParseOr();
        if (noTernary) return e;
        while (Peek.IsName("if"))
        {
            var l = Line;
            Next();
            var cond = ParseOr();
            Expr? other = null;
            if (Peek.IsName("else")) { Next(); other = ParseExpression(); }
            else if (!allowCondWithoutElse) throw new JinjaException("expected 'else'", l);
            e = new CondExpr(cond, e, other, l);
        }
        return e;
    }

    /// <summary>One left-associative binary level: <c>next (op next)*</c>.</summary>
    private Expr ParseLeftAssoc(Func<Expr> next, Func<Tok, bool> isOp)
    {
        var e = next();
        while (isOp(Peek))
        {
            var l = Line;
            var op = Next().Text;
            e = new BinaryExpr(op, e, next(), l);
        }
        return e;
    }

    private Expr ParseOr() => ParseLeftAssoc(ParseAnd, t => t.IsName("or"));

    private Expr ParseAnd() => ParseLeftAssoc(ParseNot, t => t.IsName("and"));

    private Expr ParseNot()
    {
        if (Peek.IsName("not"))
        {
            var l = Line;
            Next();
            Enter();
            try { return new UnaryExpr("not", ParseNot(), l); }
            finally { _depth--; }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var e = ParseMath1();
        while (true)
        {
            var l = Line;
            var t = Peek;
            if (t.Kind == TokKind.Op && t.Text is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                Next();
                e = new BinaryExpr(t.Text, e, ParseMath1(), l);
            }
            else if (t.IsName("in")) { Next(); e = new BinaryExpr("in", e, ParseMath1(), l); }
            else if (t.IsName("not") && _i + 1 < toks.Count && toks[_i + 1].IsName("in"))
            {
                Next(); Next();
                e = new UnaryExpr("not", new BinaryExpr("in", e, ParseMath1(), l), l);
            }
            else return e;
        }
    }

    private Expr ParseMath1() => ParseLeftAssoc(ParseConcat, t => t.Kind == TokKind.Op && t.Text is "+" or "-");

    private Expr ParseConcat() => ParseLeftAssoc(ParseMath2, t => t.Is("~"));

    private Expr ParseMath2() => ParseLeftAssoc(ParsePow, t => t.Kind == TokKind.Op && t.Text is "*" or "/" or "//" or "%");

    private Expr ParsePow() => ParseLeftAssoc(ParseUnary, t => t.Is("**"));

    private Expr ParseUnary()
    {
        if (Peek.Kind == TokKind.Op && Peek.Text is "-" or "+")
        {
            var l = Line;
            var op = Next().Text;
            Enter();
            try { return ParseFilterAndTest(new UnaryExpr(op, ParseUnary(), l)); }
            finally { _depth--; }
        }
        return ParseFilterAndTest(ParsePostfix(ParsePrimary()));
    }

    private Expr ParseFilterAndTest(Expr e)
    {
        while (true)
        {
            var l = Line;
            if (TryOp("|"))
            {
                var name = ExpectName();
                var (args, kwargs) = Peek.Is("(") ? ParseCallArgs() : ([], []);
                e = ParsePostfix(new FilterExpr(e, name, args, kwargs, l));
            }
            else if (Peek.IsName("is"))
            {
                Next();
                var negated = false;
                if (Peek.IsName("not")) { Next(); negated = true; }
                var name = Peek.Kind == TokKind.Name ? Next().Text : throw new JinjaException("expected a test name after 'is'", l);
                var args = new List<Expr>();
                if (Peek.Is("(")) args = ParseCallArgs().Args;
                else if (Peek.Kind is TokKind.String or TokKind.Int or TokKind.Float) args.Add(ParsePrimary());
                e = new TestExpr(e, name, args, negated, l);
            }
            else return e;
        }
    }

    private (List<Expr> Args, List<(string, Expr)> Kwargs) ParseCallArgs()
    {
        ExpectOp("(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!TryOp(")"))
        {
            if (Peek.Kind == TokKind.Name && _i + 1 < toks.Count && toks[_i + 1].Is("="))
            {
                var n = Next().Text;
                Next();
                kwargs.Add((n, ParseExpression()));
            }
            else args.Add(ParseExpression());
            if (!TryOp(",")) { ExpectOp(")"); break; }
        }
        return (args, kwargs);
    }

    private Expr ParsePostfix(Expr e)
    {
        while (true)
        {
            var l = Line;
            if (TryOp("."))
            {
                var t = Next();
                e = t.Kind == TokKind.Int ? new GetItem(e, new Literal(long.Parse(t.Text, CultureInfo.InvariantCulture), l), l) : new GetAttr(e, t.Text, l);
            }
            else if (Peek.Is("["))
            {
                Next();
                Expr? start = null, stop = null, step = null;
                var isSlice = false;
                if (!Peek.Is(":")) start = ParseExpression();
                if (TryOp(":"))
                {
                    isSlice = true;
                    if (!Peek.Is("]") && !Peek.Is(":")) stop = ParseExpression();
                    if (TryOp(":") && !Peek.Is("]")) step = ParseExpression();
                }
                ExpectOp("]");
                e = isSlice ? new SliceExpr(e, start, stop, step, l) : new GetItem(e, start!, l);
            }
            else if (Peek.Is("("))
            {
                var (args, kwargs) = ParseCallArgs();
                e = new CallExpr(e, args, kwargs, l);
            }
            else return e;
        }
    }

    private Expr ParsePrimary()
    {
        var l = Line;
        var t = Next();
        switch (t.Kind)
        {
            case TokKind.String:
                var s = t.Text;
                while (Peek.Kind == TokKind.String) s += Next().Text; // adjacent literals concatenate
                return new Literal(s, l);
            case TokKind.Int: return new Literal(long.Parse(t.Text, CultureInfo.InvariantCulture), l);
            case TokKind.Float: return new Literal(double.Parse(t.Text, CultureInfo.InvariantCulture), l);
            case TokKind.Name:
                return t.Text switch
                {
                    "true" or "True" => new Literal(true, l),
                    "false" or "False" => new Literal(false, l),
                    "none" or "None" => new Literal(null, l),
                    _ => new NameExpr(t.Text, l),
                };
        }
        if (t.Is("("))
        {
            var first = ParseExpression();
            if (TryOp(")")) return first;
            var items = new List<Expr> { first };
            while (TryOp(","))
            {
                if (Peek.Is(")")) break;
                items.Add(ParseExpression());
            }
            ExpectOp(")");
            return new ListExpr(items, l);
        }
        if (t.Is("["))
        {
            var items = new List<Expr>();
            while (!TryOp("]"))
            {
                items.Add(ParseExpression());
                if (!TryOp(",")) { ExpectOp("]"); break; }
            }
            return new ListExpr(items, l);
        }
        if (t.Is("{"))
        {
            var items = new List<(Expr, Expr)>();
            while (!TryOp("}"))
            {
                var k = ParseExpression();
                ExpectOp(":");
                items.Add((k, ParseExpression()));
                if (!TryOp(",")) { ExpectOp("}"); break; }
            }
            return new DictExpr(items, l);
        }
        throw new JinjaException($"unexpected {t}", l);
    }
}
