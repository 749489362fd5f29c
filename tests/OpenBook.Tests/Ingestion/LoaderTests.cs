using OpenBook.Ingestion;
using static OpenBook.Tests.Ingestion.TestDocuments;

namespace OpenBook.Tests.Ingestion;

public class PdfLoaderTests
{
    [Fact]
    public void Pages_become_sections_with_page_numbers_and_title()
    {
        var pdf = Pdf([
            Column(60, "Leave policy overview for all staff members."),
            Column(60, "Sick leave requires a doctor's note after three days."),
            Column(60, "Vacation days carry over until the end of March."),
        ], title: "Leave Policy");

        var doc = Assert.Single(Load("leave.pdf", pdf));

        Assert.Equal("Leave Policy", doc.Title);
        Assert.Equal([1, 2, 3], doc.Sections.Select(s => s.Page));
        Assert.Contains("carry over until the end of March", doc.Sections[2].Text);
        Assert.DoesNotContain("carry over", doc.Sections[0].Text);
    }

    [Fact]
    public void Two_column_page_reads_column_by_column()
    {
        var left = Enumerable.Range(1, 25).Select(i => $"alpha{i:00} the left column keeps talking about leave rules").ToArray();
        var right = Enumerable.Range(1, 25).Select(i => $"omega{i:00} the right column explains travel costs").ToArray();
        var pdf = Pdf([Column(40, left).Concat(Column(320, right))]);

        var text = Assert.Single(Load("columns.pdf", pdf)).Sections.Single().Text;

        var order = text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
            .Where(w => w.StartsWith("alpha") || w.StartsWith("omega")).ToList();
        Assert.Equal(left.Select(l => l.Split(' ')[0]).Concat(right.Select(r => r.Split(' ')[0])), order);
    }

    [Fact]
    public void Hyphenated_line_ends_are_joined()
    {
        var pdf = Pdf([Column(60, "Employees receive compen-", "sation for overtime on COVID-", "19 related duty.")]);

        var text = Assert.Single(Load("dehyphen.pdf", pdf)).Sections.Single().Text;

        Assert.Contains("receive compensation for overtime", text);
        Assert.Contains("COVID-19 related", text);
    }

    [Fact]
    public void Encrypted_pdf_is_reported_as_encrypted()
    {
        var pdf = Pdf([Column(60, "Secret salary bands.")], userPassword: "s3cret");

        var error = Assert.Throws<DocumentLoadException>(() => Load("secret.pdf", pdf));

        Assert.Equal("secret.pdf", error.Path);
        Assert.Contains("encrypted", error.Reason);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("garbage")]
    public void Corrupt_pdf_is_a_document_load_exception(string kind)
    {
        var good = Pdf([Column(60, "Some text that will be cut off.")]);
        var bytes = kind == "truncated" ? good[..(good.Length / 3)] : System.Text.Encoding.ASCII.GetBytes("this is not a pdf at all\n%%EOF");

        var error = Assert.Throws<DocumentLoadException>(() => Load("broken.pdf", bytes));

        Assert.Equal("broken.pdf", error.Path);
        Assert.False(string.IsNullOrWhiteSpace(error.Reason));
        Assert.StartsWith("broken.pdf: ", error.Message);
    }
}

public class DocxLoaderTests
{
    [Fact]
    public void Headings_tables_and_lists_are_kept()
    {
        var docx = Docx(
            ("Title", "Employee Handbook"),
            (null, "Welcome to the company."),
            ("Heading1", "Vacation"),
            (null, "Full-time staff get 28 days."),
            ("Heading2", "Carry-over"),
            (null, "Up to 5 days carry over to next year."),
            ("List", "Ask your manager"),
            ("List", "Record it in the HR portal"),
            ("Table:Office|Days;Berlin|30;Boston|20", ""),
            ("Heading1", "Expenses"),
            (null, "Submit receipts within 30 days."));

        var doc = Assert.Single(Load("handbook.docx", docx));

        Assert.Equal("Employee Handbook", doc.Title);
        var carry = doc.Sections.Single(s => s.Text.Contains("Up to 5 days"));
        Assert.Equal(["Employee Handbook", "Vacation", "Carry-over"], carry.Headings);
        Assert.Contains("- Ask your manager\n- Record it in the HR portal", carry.Text);
        Assert.Contains("Office | Days\nBerlin | 30\nBoston | 20", carry.Text);
        Assert.Equal(["Employee Handbook", "Expenses"], doc.Sections[^1].Headings);
    }

    [Fact]
    public void Corrupt_docx_is_a_document_load_exception()
    {
        var bytes = Docx((null, "hello"));
        var error = Assert.Throws<DocumentLoadException>(() => Load("bad.docx", bytes[..200]));
        Assert.Equal("bad.docx", error.Path);
    }
}

public class HtmlLoaderTests
{
    private const string Page = """
        <!DOCTYPE html><html><head><title>Remote work</title><style>body{color:red}</style>
        <script>var tracking = "SCRIPTJUNK";</script></head>
        <body>
          <header><a href="/">Home</a> <a href="/about">HEADERJUNK</a></header>
          <nav><ul><li>NAVJUNK</li></ul></nav>
          <div class="navbar"><a href="/x">NAVBARJUNK</a></div>
          <h1>Remote work</h1>
          <p>You may work   remotely
             two days a week.</p>
          <h2>Equipment</h2>
          <ul><li>Laptop</li><li>Monitor<ul><li>27 inch</li></ul></li></ul>
          <table><tr><th>Office</th><th>Days</th></tr><tr><td>Berlin</td><td>3</td></tr></table>
          <form><input name="q"><button>FORMJUNK</button></form>
          <aside>ASIDEJUNK</aside>
          <noscript>NOSCRIPTJUNK</noscript>
          <footer>FOOTERJUNK (c) 2026</footer>
        </body></html>
        """;

    [Fact]
    public void Furniture_is_removed_and_structure_kept()
    {
        var doc = Assert.Single(Load("remote.html", Page));
        var text = doc.FullText;

        Assert.Equal("Remote work", doc.Title);
        foreach (var junk in new[] { "SCRIPTJUNK", "HEADERJUNK", "NAVJUNK", "NAVBARJUNK", "FORMJUNK", "ASIDEJUNK", "NOSCRIPTJUNK", "FOOTERJUNK", "color:red" })
            Assert.DoesNotContain(junk, text);
        Assert.Equal("You may work remotely two days a week.", doc.Sections[0].Text);
        Assert.Equal(["Remote work"], doc.Sections[0].Headings);
        var equipment = doc.Sections[1];
        Assert.Equal(["Remote work", "Equipment"], equipment.Headings);
        Assert.Contains("- Laptop\n- Monitor\n  - 27 inch", equipment.Text);
        Assert.Contains("Office | Days\nBerlin | 3", equipment.Text);
    }
}

public class MarkdownLoaderTests
{
    [Fact]
    public void Headings_become_heading_paths()
    {
        const string md = """
            ---
            author: HR
            ---
            # Leave
            Intro to **leave** with a [link](http://x).

            ## Vacation
            Staff get 28 days.

            ### Carry-over
            - up to 5 days
            - until March

            | Office | Days |
            |--------|------|
            | Berlin | 30   |

            ## Sick leave
            ```
            code line 1
            code line 2
            ```
            """;

        var doc = Assert.Single(Load("leave.md", md));

        Assert.Equal("Leave", doc.Title);
        Assert.Equal(
            [["Leave"], ["Leave", "Vacation"], ["Leave", "Vacation", "Carry-over"], ["Leave", "Sick leave"]],
            doc.Sections.Select(s => s.Headings.ToArray()));
        Assert.Equal("Intro to leave with a link.", doc.Sections[0].Text);
        Assert.Equal("- up to 5 days\n- until March\n\nOffice | Days\nBerlin | 30", doc.Sections[2].Text);
        Assert.Equal("code line 1\ncode line 2", doc.Sections[3].Text);
        Assert.DoesNotContain("author", doc.FullText);
    }

    [Fact]
    public void Text_file_keeps_paragraphs()
    {
        var doc = Assert.Single(Load("notes.txt", "First para\r\nstill first.\r\n\r\n\r\nSecond para.  \n"));
        Assert.Equal("First para\nstill first.\n\nSecond para.", doc.FullText);
        Assert.Empty(doc.Sections[0].Headings);
    }
}

public class JsonLoaderTests
{
    [Fact]
    public void Jsonl_records_become_documents_with_keys_and_metadata()
    {
        const string jsonl = """
            {"id": "a1", "body": {"text": "First record."}, "lang": "en", "score": 3}

            {"id": "a2", "body": {"text": ["Para one.", "Para two."]}, "lang": "de"}
            """;
        var options = new LoaderOptions { Json = new JsonLoaderOptions { TextField = "body.text", IdField = "id" } };

        var docs = Load("records.jsonl", jsonl, options);

        Assert.Equal(["a1", "a2"], docs.Select(d => d.RecordKey));
        Assert.Equal("First record.", docs[0].FullText);
        Assert.Equal("Para one.\n\nPara two.", docs[1].FullText);
        Assert.Equal("en", docs[0].Metadata["lang"]);
        Assert.Equal("3", docs[0].Metadata["score"]);
        Assert.False(docs[0].Metadata.ContainsKey("id"));
    }

    [Fact]
    public void Bad_jsonl_line_reports_its_line_number()
    {
        const string jsonl = "{\"text\": \"ok\"}\n{\"text\": \"ok too\"}\n{\"text\": broken\n";
        var error = Assert.Throws<DocumentLoadException>(() => Load("bad.jsonl", jsonl));
        Assert.Equal("bad.jsonl", error.Path);
        Assert.StartsWith("line 3: invalid JSON", error.Reason);
    }

    [Fact]
    public void Missing_text_field_names_line_and_field()
    {
        var error = Assert.Throws<DocumentLoadException>(() => Load("bad.jsonl", "{\"text\": \"ok\"}\n{\"content\": \"x\"}\n"));
        Assert.Equal("line 2: field 'text' is missing", error.Reason);
    }

    [Fact]
    public void Json_array_gives_one_document_per_element()
    {
        var docs = Load("faq.json", """[{"text": "Q1", "title": "T1"}, {"text": "Q2", "title": "T2"}]""",
            new LoaderOptions { Json = new JsonLoaderOptions { TitleField = "title" } });
        Assert.Equal(["index:0", "index:1"], docs.Select(d => d.RecordKey));
        Assert.Equal(["T1", "T2"], docs.Select(d => d.Title));
    }
}

public class CsvLoaderTests
{
    private const string Csv = "id,question,answer,team\r\n" +
                               "q1,\"How many days, in total?\",\"28 days; \"\"more\"\" in Berlin\",hr\r\n" +
                               "q2,Multi-line?,\"line one\nline two\",it\r\n";

    [Fact]
    public void Per_row_handles_rfc4180_quoting()
    {
        var options = new LoaderOptions { Csv = new CsvLoaderOptions { IdColumn = "id", TextColumns = ["question", "answer"] } };

        var docs = Load("faq.csv", Csv, options);

        Assert.Equal(["q1", "q2"], docs.Select(d => d.RecordKey));
        Assert.Equal("question: How many days, in total?\nanswer: 28 days; \"more\" in Berlin", docs[0].FullText);
        Assert.Equal("question: Multi-line?\nanswer: line one line two", docs[1].FullText);
        Assert.Equal("hr", docs[0].Metadata["team"]);
    }

    [Fact]
    public void Per_file_gives_one_document_with_rows()
    {
        var doc = Assert.Single(Load("faq.csv", Csv, new LoaderOptions { Csv = new CsvLoaderOptions { Mode = CsvMode.PerFile } }));
        Assert.Equal("id | question | answer | team\nq1 | How many days, in total? | 28 days; \"more\" in Berlin | hr\nq2 | Multi-line? | line one line two | it", doc.FullText);
    }

    [Theory]
    [InlineData("a,b\n1,2,3\n", "line 2: 3 fields but the header has 2")]
    [InlineData("a,b\n1,\"open\n2,3\n", "line 2: unterminated quoted field")]
    [InlineData("a,b\n\"x\"y,2\n", "line 2: unexpected character 'y' after a closing quote")]
    public void Malformed_csv_names_the_line(string csv, string reason)
    {
        var error = Assert.Throws<DocumentLoadException>(() => Load("bad.csv", csv));
        Assert.Equal(reason, error.Reason);
    }

    [Fact]
    public void Unknown_column_is_reported()
    {
        var error = Assert.Throws<DocumentLoadException>(() =>
            Load("faq.csv", Csv, new LoaderOptions { Csv = new CsvLoaderOptions { IdColumn = "key" } }));
        Assert.Contains("column 'key' not found", error.Reason);
    }
}

public class LoaderRegistryTests
{
    [Fact]
    public void Default_registry_knows_every_format()
    {
        var registry = LoaderRegistry.CreateDefault();
        foreach (var ext in new[] { ".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".json", ".jsonl", ".ndjson", ".csv", ".tsv" })
            Assert.True(registry.TryGet("x" + ext.ToUpperInvariant(), out _), ext);
        Assert.False(registry.TryGet("x.xyz", out _));
        Assert.False(registry.TryGet("Makefile", out _));
    }

    [Fact]
    public void LoadFile_wraps_missing_files_and_unknown_types()
    {
        var registry = LoaderRegistry.CreateDefault();
        Assert.Contains("cannot open file", Assert.Throws<DocumentLoadException>(() => registry.LoadFile("/nonexistent/a.md")).Reason);
        Assert.Contains("unsupported file type '.xyz'", Assert.Throws<DocumentLoadException>(() => registry.LoadFile("a.xyz")).Reason);
    }
}
