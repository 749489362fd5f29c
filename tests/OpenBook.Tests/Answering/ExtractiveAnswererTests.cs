using OpenBook.Answering;
using OpenBook.Retrieval.Lexical;

namespace OpenBook.Tests.Answering;

public class SentenceSplitterTests
{
    [Fact]
    public void Splits_sentences_but_not_abbreviations_or_decimals()
    {
        var s = SentenceSplitter.Split("Claims go to Dr. Smith, e.g. by mail. The limit is 2.5 days. Then stop!\nNext line").ToList();
        Assert.Equal(["Claims go to Dr. Smith, e.g. by mail.", "The limit is 2.5 days.", "Then stop!", "Next line"], s);
    }

    [Fact]
    public void Table_rows_come_with_their_header_row()
    {
        var text = "Entitlements:\nOffice | Days | Notes\nBerlin | 30 | HQ\nBoston | 20 | PTO\n\nAfter the table.";
        var parts = SentenceSplitter.SplitWithTableHeaders(text).ToList();
        Assert.Equal(("Entitlements:", (string?)null), parts[0]);
        Assert.Equal(("Office | Days | Notes", (string?)null), parts[1]);
        Assert.Equal(("Berlin | 30 | HQ", "Office | Days | Notes"), parts[2]);
        Assert.Equal(("Boston | 20 | PTO", "Office | Days | Notes"), parts[3]);
        Assert.Equal(("After the table.", (string?)null), parts[4]);
    }
}

public class ExtractiveAnswererTests
{
    private static SearchHit Hit(int rank, string text, params string[] headings) => new()
    {
        Rank = rank, Score = 10 - rank, ChunkId = rank, DocumentId = rank, Text = text, Source = $"doc{rank}.md", Headings = headings, Collection = "c",
    };

    private static ExtractiveAnswerer Answerer(ExtractiveOptions? options = null)
    {
        var index = new Bm25Index();
        index.Add(1, 1, "vacation days carry over march berlin office travel expenses receipts");
        index.Add(2, 2, "the office kitchen closes at six");
        return new ExtractiveAnswerer(t => index.Idf(t), options);
    }

    [Fact]
    public void Picks_the_supporting_sentence_and_cites_its_passage()
    {
        var answer = Answerer().Answer("Until when can vacation days carry over?",
        [
            Hit(1, "The office kitchen closes at six. Coffee is free."),
            Hit(2, "Travel needs approval. Unused vacation days carry over until 31 March. Receipts are kept.", "Leave"),
        ]);
        Assert.True(answer.Found);
        Assert.Equal("Unused vacation days carry over until 31 March. [1]", answer.Text);
        var citation = Assert.Single(answer.Citations);
        Assert.Equal("doc2.md", citation.Source);
        Assert.Equal(AnswerMode.Extractive, answer.Mode);
        Assert.InRange(answer.Confidence, 0.4, 1.0);
    }

    [Fact]
    public void Weak_evidence_gives_the_not_in_documents_answer()
    {
        var answer = Answerer().Answer("What is the travel budget for Berlin?", [Hit(1, "The office kitchen closes at six.")]);
        Assert.False(answer.Found);
        Assert.Equal(Answer.NotInDocuments, answer.Text);
        Assert.Empty(answer.Citations);
    }

    [Fact]
    public void A_table_row_is_answered_with_its_column_headers()
    {
        var answer = Answerer().Answer("How many vacation days in the Berlin office?",
            [Hit(1, "Office | Vacation days\nBerlin | 30 working days\nBoston | 20 days")]);
        Assert.True(answer.Found);
        Assert.StartsWith("Office: Berlin · Vacation days: 30 working days", answer.Text);
    }
}
