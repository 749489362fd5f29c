using OpenBook.Models.Formats.ChatTemplates;

namespace OpenBook.Models.Tests.Hostile;

/// <summary>
/// Chat templates ship inside model files: a hostile one must fail with one clear error, never a stack overflow
/// (which kills the process), an endless loop or an out-of-memory.
/// </summary>
public sealed class HostileTemplateTests
{
    private static string Render(string template) => ChatTemplate.Parse(template).Render(new Dictionary<string, object?>());

    private static void Refused(string template, string expected)
    {
        var e = Assert.ThrowsAny<OpenBookException>(() => Render(template));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("chat template", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Recursive_macro_is_stopped() =>
        Refused("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "called recursively deeper than 64 levels");

    [Fact]
    public void Deep_but_bounded_macro_recursion_still_works() =>
        Assert.Equal("10", Render("{% macro f(n) %}{% if n < 10 %}{{ f(n + 1) }}{% else %}{{ n }}{% endif %}{% endmacro %}{{ f(0) }}"));

    [Fact]
    public void Hundred_thousand_nested_parentheses_are_refused_at_parse_time()
    {
        var template = "{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}";
        var e = Assert.ThrowsAny<OpenBookException>(() => ChatTemplate.Parse(template));
        Assert.Contains("nested deeper than 64 levels", e.Message);
    }

    [Theory]
    [InlineData("{{ [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] }}")]
    [InlineData("{{ not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not x }}")]
    public void Deep_brackets_and_unary_chains_are_refused(string template)
    {
        var e = Assert.ThrowsAny<OpenBookException>(() => ChatTemplate.Parse(template));
        Assert.Contains("nested deeper than", e.Message);
    }

    [Fact]
    public void Deeply_nested_blocks_are_refused()
    {
        var template = string.Concat(Enumerable.Repeat("{% if true %}", 10_000)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 10_000));
        var e = Assert.ThrowsAny<OpenBookException>(() => ChatTemplate.Parse(template));
        Assert.Contains("blocks nested deeper than 64 levels", e.Message);
    }

    [Fact]
    public void Long_operator_chain_is_refused_not_a_stack_overflow()
    {
        var template = "{{ " + string.Join(" + ", Enumerable.Repeat("1", 100_000)) + " }}";
        Refused(template, "evaluated deeper than 512 levels");
    }

    [Fact]
    public void Huge_range_is_refused() => Refused("{% for i in range(1000000000) %}{% endfor %}", "range() of more than 1000000 items");

    [Fact]
    public void Nested_loops_hit_the_iteration_limit() =>
        Refused("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}{% endfor %}{% endfor %}{% endfor %}", "more than 1000000 loop iterations");

    [Theory]
    [InlineData("{{ 'x' * 2000000000 }}", "string repetition longer than")]
    [InlineData("{{ 'xxxxxxxxxx' * 1000000 }}", "string repetition longer than")]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}", "a string longer than")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}", "a list longer than")]
    [InlineData("{{ 'abcdefgh' | replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' * 80000) }}", "replace result longer than")]
    [InlineData("{{ 'ab' | indent(2000000000) }}", "indent result longer than")]
    [InlineData("{{ range(900000) | join('xxxxxxxxxxxxxxxxxxxx') }}", "join result longer than")]
    [InlineData("{% for i in range(900000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", "output longer than")]
    public void Output_and_string_sizes_are_bounded(string template, string expected) => Refused(template, expected);

    [Fact]
    public void List_that_contains_itself_is_refused_when_printed()
    {
        Refused("{% set l = [] %}{{ l.append(l) }}{{ l }}", "nested deeper than 100 levels");
        Refused("{% set l = [] %}{{ l.append(l) }}{{ l | tojson }}", "nested deeper than 100 levels");
    }

    [Fact]
    public void Range_with_a_float_is_a_clear_error() => Refused("{{ range(2.5) }}", "range() takes one to three integers");

    [Fact]
    public void Ordinary_templates_are_unaffected() =>
        Assert.Equal("0,1,2|xxx|ABC", Render("{{ range(3) | join(',') }}|{{ 'x' * 3 }}|{{ 'abc' | upper }}"));
}
