using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using OpenBook.Ingestion;

namespace OpenBook.Tests.Hostile;

/// <summary>
/// Documents as untrusted input: one hostile file is skipped or refused with a note and never blocks, exhausts
/// memory or aborts the run; the good files around it are ingested.
/// </summary>
public sealed class HostileDocumentTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Docs => Path.Combine(_dir.Path, "docs");

    private async Task<(Book Book, IngestReport Report)> IngestDocs(IngestOptions? options = null)
    {
        var book = await Book.OpenAsync(Path.Combine(_dir.Path, "store"));
        // Every hostile case must finish promptly: a FIFO used to block forever.
        var report = await book.IngestAsync([Docs], options ?? new IngestOptions()).WaitAsync(TimeSpan.FromSeconds(60));
        return (book, report);
    }

    private void GoodFiles()
    {
        _dir.File("docs/a-first.md", "# Parking\n\nBicycles park for free in the courtyard.");
        _dir.File("docs/z-last.txt", "The canteen opens at eight in the morning.");
    }

    private static async Task AssertGoodFilesIngested(Book book)
    {
        Assert.Single(await book.SearchAsync("bicycles courtyard", 3));
        Assert.Single(await book.SearchAsync("canteen morning", 3));
    }

    private static void Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    // ---- archives -------------------------------------------------------------------------------------------

    /// <summary>A .docx whose document.xml is <paramref name="bodyBytes"/> of spaces: it compresses ~1000:1.</summary>
    private static byte[] DocxBomb(int bodyBytes, int extraEntries = 0)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Entry(string name, string text)
            {
                using var w = new StreamWriter(zip.CreateEntry(name, CompressionLevel.Optimal).Open(), new UTF8Encoding(false));
                w.Write(text);
            }
            Entry("[Content_Types].xml", """<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>""");
            Entry("_rels/.rels", """<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>""");
            var doc = zip.CreateEntry("word/document.xml", CompressionLevel.Optimal);
            using (var s = doc.Open())
            {
                s.Write("""<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Secret bomb text</w:t></w:r></w:p>"""u8);
                var spaces = new byte[1 << 20];
                Array.Fill(spaces, (byte)' ');
                for (int written = 0; written < bodyBytes; written += spaces.Length) s.Write(spaces, 0, Math.Min(spaces.Length, bodyBytes - written));
                s.Write("</w:body></w:document>"u8);
            }
            for (int i = 0; i < extraEntries; i++) Entry($"customXml/item{i}.xml", "<x/>");
        }
        return ms.ToArray();
    }

    [Fact]
    public async Task Docx_zip_bomb_is_refused_and_the_run_goes_on()
    {
        GoodFiles();
        var bomb = DocxBomb(24 << 20);
        Assert.True(bomb.Length < 200_000, $"bomb is {bomb.Length} bytes");
        File.WriteAllBytes(Path.Combine(Docs, "m-bomb.docx"), bomb);
        var options = new IngestOptions { Loaders = new LoaderOptions { Limits = new InputLimits { MaxArchiveBytes = 8 << 20 } } };
        var (book, report) = await IngestDocs(options);
        await using var _ = book;
        var failure = Assert.Single(report.Failed);
        Assert.Equal("docs/m-bomb.docx", failure.Path);
        Assert.Contains("expands to more than 8 MiB", failure.Reason);
        await AssertGoodFilesIngested(book);
        Assert.Empty(await book.SearchAsync("secret bomb", 3));
    }

    [Fact]
    public void Docx_with_too_many_entries_is_refused()
    {
        var path = Path.Combine(_dir.Path, "many.docx");
        File.WriteAllBytes(path, DocxBomb(10, extraEntries: 60));
        var options = new LoaderOptions { Limits = new InputLimits { MaxArchiveEntries = 50 } };
        var e = Assert.Throws<DocumentLoadException>(() => LoaderRegistry.CreateDefault().LoadFile(path, options: options));
        Assert.Contains("more than the limit of 50", e.Reason);
        // Under the limits the same file loads.
        Assert.Contains("Secret bomb text", Assert.Single(LoaderRegistry.CreateDefault().LoadFile(path)).FullText);
    }

    [Fact]
    public void Default_limits_are_documented_values() =>
        Assert.Equal((256L << 20, 256L << 20, 10_000, 256), (InputLimits.Default.MaxFileBytes, InputLimits.Default.MaxArchiveBytes,
            InputLimits.Default.MaxArchiveEntries, InputLimits.Default.MaxNestingDepth));

    [Fact]
    public async Task File_over_the_size_limit_is_refused_with_a_note()
    {
        GoodFiles();
        _dir.File("docs/m-big.txt", new string('x', 5000));
        var (book, report) = await IngestDocs(new IngestOptions { Loaders = new LoaderOptions { Limits = new InputLimits { MaxFileBytes = 4096 } } });
        await using var _ = book;
        Assert.Contains("larger than the 4096-byte limit", Assert.Single(report.Failed).Reason);
        await AssertGoodFilesIngested(book);
    }

    // ---- special files and links ---------------------------------------------------------------------------

    [Fact]
    public async Task Fifo_is_skipped_and_never_blocks()
    {
        if (!OperatingSystem.IsLinux()) return; // FIFO detection uses statx(2)
        GoodFiles();
        Run("mkfifo", Path.Combine(Docs, "m-pipe.md"));
        var (book, report) = await IngestDocs();
        await using var _ = book;
        var skipped = Assert.Single(report.Skipped);
        Assert.Equal("docs/m-pipe.md", skipped.Path);
        Assert.Contains("named pipe", skipped.Reason);
        await AssertGoodFilesIngested(book);
    }

    [Fact]
    public async Task Link_to_dev_zero_is_skipped_with_or_without_follow_symlinks()
    {
        if (!OperatingSystem.IsLinux()) return;
        GoodFiles();
        File.CreateSymbolicLink(Path.Combine(Docs, "m-zero.txt"), "/dev/zero");
        var (book, report) = await IngestDocs();
        await using (book)
        {
            Assert.Contains("outside the ingested folders", Assert.Single(report.Skipped).Reason);
            await AssertGoodFilesIngested(book);
        }
        // Followed, it is a character device: still never read (it used to be an OutOfMemoryException that ended the run).
        Directory.Delete(Path.Combine(_dir.Path, "store"), recursive: true);
        var (book2, report2) = await IngestDocs(new IngestOptions { Walk = new WalkOptions { FollowSymlinks = true } });
        await using var _ = book2;
        Assert.Contains("character device", Assert.Single(report2.Skipped).Reason);
        Assert.Empty(report2.Failed);
        await AssertGoodFilesIngested(book2);
    }

    [Fact]
    public async Task File_link_outside_the_roots_is_skipped_unless_follow_symlinks()
    {
        GoodFiles();
        var secret = _dir.File("private/passwd.txt", "root:x:0:0 shadow secret entry");
        File.CreateSymbolicLink(Path.Combine(Docs, "m-passwd.txt"), secret);
        File.CreateSymbolicLink(Path.Combine(Docs, "m-inside.txt"), Path.Combine(Docs, "z-last.txt")); // inside: read
        var (book, report) = await IngestDocs();
        await using (book)
        {
            var skipped = Assert.Single(report.Skipped);
            Assert.Equal("docs/m-passwd.txt", skipped.Path);
            Assert.Contains("--follow-symlinks", skipped.Reason);
            Assert.Empty(await book.SearchAsync("shadow secret", 3));
            Assert.Equal(3, report.Added);
        }
        Directory.Delete(Path.Combine(_dir.Path, "store"), recursive: true);
        var (book2, report2) = await IngestDocs(new IngestOptions { Walk = new WalkOptions { FollowSymlinks = true } });
        await using var _ = book2;
        Assert.Empty(report2.Skipped);
        Assert.Single(await book2.SearchAsync("shadow secret", 3));
    }

    // ---- content ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Random_bytes_and_nul_bytes_are_skipped_as_binary()
    {
        GoodFiles();
        var noise = new byte[200_000];
        new Random(7).NextBytes(noise);
        for (int i = 0; i < noise.Length; i++) if (noise[i] == 0) noise[i] = 1; // no NUL: the invalid-UTF-8 share decides
        File.WriteAllBytes(Path.Combine(Docs, "m-noise.md"), noise);
        File.WriteAllBytes(Path.Combine(Docs, "m-nul.txt"), [.. "hello"u8, 0, .. "world"u8]);
        var (book, report) = await IngestDocs();
        await using var _ = book;
        Assert.Equal(["docs/m-noise.md", "docs/m-nul.txt"], report.Skipped.Select(s => s.Path).Order(StringComparer.Ordinal));
        Assert.Contains("not valid UTF-8", report.Skipped.Single(s => s.Path.EndsWith(".md", StringComparison.Ordinal)).Reason);
        Assert.Contains("NUL byte at offset 5", report.Skipped.Single(s => s.Path.EndsWith(".txt", StringComparison.Ordinal)).Reason);
        Assert.Equal(2, report.Added);
        Assert.Equal(2, book.Store.ListDocuments().Count);
        await AssertGoodFilesIngested(book);
    }

    [Fact]
    public async Task Invalid_utf8_is_reported_and_the_text_ingested()
    {
        Directory.CreateDirectory(Docs);
        File.WriteAllBytes(Path.Combine(Docs, "latin1.txt"), [.. "The caf"u8, 0xE9, .. " serves lunch until two in the afternoon, every working day of the week."u8]);
        var (book, report) = await IngestDocs();
        await using var _ = book;
        var note = Assert.Single(report.Notes);
        Assert.Equal("docs/latin1.txt", note.Path);
        Assert.Contains("1 invalid UTF-8 byte(s), the first at offset 7", note.Reason);
        Assert.Single(await book.SearchAsync("lunch afternoon", 3));
    }

    [Fact]
    public async Task Document_without_text_is_reported()
    {
        GoodFiles();
        _dir.File("docs/m-title.html", "<html><head><title>Only a broken title <body><p>");
        var (book, report) = await IngestDocs();
        await using var _ = book;
        var note = Assert.Single(report.Notes);
        Assert.Equal("docs/m-title.html", note.Path);
        Assert.Contains("no text", note.Reason);
        await AssertGoodFilesIngested(book);
    }

    [Fact]
    public async Task Jsonl_bad_records_are_reported_with_their_line_and_the_rest_ingested()
    {
        _dir.File("docs/faq.jsonl", string.Join("\n",
            """{"text":"Bicycles park for free in the courtyard."}""",
            "",
            """{"text":"broken""",
            """{"text":"The canteen opens at eight in the morning."}""",
            """{"title":"no text field"}""",
            """{"text":"Printers are on every floor near the kitchen."}"""));
        var (book, report) = await IngestDocs();
        await using var _ = book;
        Assert.Equal(2, report.SkippedRecords);
        Assert.Equal(["line 3", "line 5"], report.Notes.Select(n => n.Reason.Split(':')[1].Trim()));
        Assert.Empty(report.Failed);
        Assert.Equal(3, report.Added);
        await AssertGoodFilesIngested(book);
        Assert.Single(await book.SearchAsync("printers kitchen", 3));
    }

    [Fact]
    public async Task Csv_bad_records_are_reported_with_their_true_line_and_the_rest_ingested()
    {
        _dir.File("docs/t.csv", "id,text\n1,Bicycles park for free in the courtyard.\n2,\"an unterminated quote\n3,The canteen opens at eight in the morning.\n4,too,many\n5,Printers are on every floor.\n");
        var (book, report) = await IngestDocs();
        await using var _ = book;
        Assert.Equal(2, report.SkippedRecords);
        Assert.Contains("line 3: unterminated quoted field", report.Notes[0].Reason);
        Assert.Contains("line 5: 3 fields but the header has 2", report.Notes[1].Reason);
        Assert.Equal(3, report.Added);
        await AssertGoodFilesIngested(book);
    }

    [Fact]
    public void Csv_loader_without_a_skip_handler_still_fails_on_the_first_bad_record()
    {
        var e = Assert.Throws<DocumentLoadException>(() =>
            new CsvLoader().Load("t.csv", new MemoryStream("a,b\n1,2\n3,\"x\n"u8.ToArray()), LoaderOptions.Default).ToList());
        Assert.Equal(3, e.Line);
    }

    // ---- nesting and linearity ------------------------------------------------------------------------------

    [Fact]
    public void Html_with_100k_nested_divs_is_refused_quickly()
    {
        var html = "<html><body>" + string.Concat(Enumerable.Repeat("<div>", 100_000)) + "deep" + string.Concat(Enumerable.Repeat("</div>", 100_000)) + "</body></html>";
        var e = Assert.Throws<DocumentLoadException>(() => new HtmlLoader().Load("deep.html", new MemoryStream(Encoding.UTF8.GetBytes(html)), LoaderOptions.Default).ToList());
        Assert.Contains("nested deeper than 256 levels", e.Reason);
        // Ordinary nesting still loads, including many unclosed <p> and <li> (they do not nest).
        var ok = "<html><body>" + string.Concat(Enumerable.Repeat("<div>", 100)) + "<ul>" + string.Concat(Enumerable.Repeat("<li>item<p>text", 2000)) + "</ul></body></html>";
        Assert.Contains("item", Assert.Single(new HtmlLoader().Load("ok.html", new MemoryStream(Encoding.UTF8.GetBytes(ok)), LoaderOptions.Default)).FullText);
    }

    [Fact]
    public void Deeply_nested_markdown_lists_and_quotes_are_refused()
    {
        var list = new StringBuilder();
        for (int k = 0; k < 1000; k++) list.Append(' ', 2 * k).Append("- level ").Append(k).Append('\n');
        var e = Assert.Throws<DocumentLoadException>(() => new MarkdownLoader().Load("l.md", new MemoryStream(Encoding.UTF8.GetBytes(list.ToString())), LoaderOptions.Default).ToList());
        Assert.Contains("nested deeper than 256 levels", e.Reason);
        var quotes = string.Concat(Enumerable.Repeat("> ", 50_000)) + "x";
        Assert.Throws<DocumentLoadException>(() => new MarkdownLoader().Load("q.md", new MemoryStream(Encoding.UTF8.GetBytes(quotes)), LoaderOptions.Default).ToList());
        // A deeply indented code block is no nesting; a 20-level list is fine.
        var fine = "```\n" + new string(' ', 2000) + "- not a list\n```\n" + string.Concat(Enumerable.Range(0, 20).Select(k => new string(' ', 2 * k) + "- item " + k + "\n"));
        Assert.Contains("item 19", Assert.Single(new MarkdownLoader().Load("f.md", new MemoryStream(Encoding.UTF8.GetBytes(fine)), LoaderOptions.Default)).FullText);
    }

    [Fact]
    public async Task Markdown_paragraph_with_50k_unclosed_links_is_read_as_plain_text_with_a_note()
    {
        GoodFiles();
        // 50,000 "[a](" in one paragraph took Markdig 35 s; now the file is read as plain text.
        _dir.File("docs/m-links.md", "# Links\n\nSecret marker word.\n" + string.Concat(Enumerable.Repeat("[a](", 50_000)));
        var (book, report) = await IngestDocs();
        await using var _ = book;
        var note = Assert.Single(report.Notes);
        Assert.Equal("docs/m-links.md", note.Path);
        Assert.Contains("read as plain text", note.Reason);
        Assert.Single(await book.SearchAsync("secret marker word", 3));
        await AssertGoodFilesIngested(book);
        // Ordinary link-heavy paragraphs still parse as Markdown.
        var ok = "See " + string.Join(", ", Enumerable.Range(0, 100).Select(i => $"[doc {i}](https://x/{i})")) + ".";
        Assert.Contains("doc 99", Assert.Single(new MarkdownLoader().Load("ok.md", new MemoryStream(Encoding.UTF8.GetBytes(ok)), LoaderOptions.Default)).FullText);
    }

    /// <summary>Counts the characters the chunker asks the token counter to look at.</summary>
    private sealed class CountingCounter : ITokenCounter
    {
        public long Chars;
        public int CountTokens(ReadOnlySpan<char> text)
        {
            Chars += text.Length;
            return ApproximateTokenCounter.Instance.CountTokens(text);
        }
    }

    private static (long Chars, int Chunks) ChunkNoWhitespace(int length)
    {
        var counter = new CountingCounter();
        var text = new string('a', length);
        var chunks = new Chunker(ChunkingOptions.Default, counter).Split(new LoadedDocument("x.txt", null, [new DocumentSection(text, [])]));
        Assert.Equal(length, chunks.Sum(c => c.CharEnd - c.CharStart) - OverlapChars(chunks));
        return (counter.Chars, chunks.Count);
    }

    private static int OverlapChars(IReadOnlyList<Chunk> chunks) =>
        chunks.Zip(chunks.Skip(1)).Sum(p => Math.Max(0, p.First.CharEnd - p.Second.CharStart));

    [Fact]
    public void Chunking_text_without_whitespace_is_linear()
    {
        var (small, smallChunks) = ChunkNoWhitespace(1 << 20);
        var (large, largeChunks) = ChunkNoWhitespace(8 << 20);
        Assert.InRange(largeChunks, 7 * smallChunks, 9 * smallChunks);
        // Linear: 8x the text costs about 8x the work (quadratic was ~64x). Counted, not timed.
        var ratio = (double)large / small;
        Assert.True(ratio < 12, $"8 MB / 1 MB work ratio {ratio:0.0} (chars counted: {small} vs {large})");
        Assert.True(large < 40L * (8 << 20), $"{large} characters counted for 8 MB");
    }

    // ---- options ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("[")]
    [InlineData("a[")]
    [InlineData("[!]")]
    [InlineData("[]")]
    public void Malformed_glob_is_one_clear_error(string pattern)
    {
        var e = Assert.Throws<OpenBookException>(() => new Glob(pattern));
        Assert.Contains($"glob '{pattern}'", e.Message);
    }

    [Fact]
    public async Task Ingest_with_a_malformed_include_glob_is_one_clear_error()
    {
        GoodFiles();
        await using var book = await Book.OpenAsync(Path.Combine(_dir.Path, "store"));
        var e = await Assert.ThrowsAsync<OpenBookException>(() => book.IngestAsync([Docs], new IngestOptions { Walk = new WalkOptions { Include = ["["] } }));
        Assert.Contains("glob '['", e.Message);
    }
}
