using OpenBook.Retrieval.Lexical;

namespace OpenBook.Tests.Lexical;

public class TextAnalyzerTests
{
    [Fact]
    public void Folds_case_accents_and_width_and_removes_stop_words()
    {
        var terms = TextAnalyzer.Default.Terms("The Café in MÜNCHEN offers ｆｕｌｌ-width Vacations!");
        Assert.Equal(["cafe", "munchen", "offer", "full", "width", "vacat"], terms);
    }

    [Fact]
    public void Keeps_decimal_numbers_together()
    {
        Assert.Equal(["3.5", "dai", "2000", "eur"], TextAnalyzer.Default.Terms("3.5 days, 2,000 EUR"));
    }

    [Fact]
    public void Handles_empty_and_symbol_only_text()
    {
        Assert.Empty(TextAnalyzer.Default.Terms(""));
        Assert.Empty(TextAnalyzer.Default.Terms("--- *** !!!"));
    }
}
