using OpenBook.Ingestion;
using OpenBook.Retrieval;
using OpenBook.Tests.Ingestion;

namespace OpenBook.Tests.Ingest;

public class BookIngestTests
{
    private static async Task<IngestReport> Ingest(Book book, string path, IngestOptions? options = null) =>
        await book.IngestAsync([path], options ?? new IngestOptions { Collection = "hr" });

    [Fact]
    public async Task Reingest_skips_unchanged_replaces_changed_and_prunes_removed()
    {
        using var dir = new TempDir();
        var docs = Path.Combine(dir.Path, "docs");
        dir.File("docs/leave.md", "# Leave\n\nEmployees get 28 vacation days in Berlin.\n");
        dir.File("docs/vpn.txt", "Use the VPN on public wifi.");
        dir.File("docs/faq.jsonl", "{\"text\":\"Parking is free for bicycles.\"}\n{\"text\":\"The canteen opens at 8.\"}\n");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));

        var first = await Ingest(book, docs);
        Assert.Equal((3, 4, 0, 0), (first.Files, first.Added, first.Updated, first.Unchanged));
        Assert.Equal(4, book.Store.ListDocuments().Count);

        var again = await Ingest(book, docs);
        Assert.Equal((0, 0, 3, 0), (again.Added, again.Updated, again.Unchanged, again.Chunks));

        dir.File("docs/leave.md", "# Leave\n\nEmployees get 30 vacation days in Berlin.\n");
        dir.File("docs/faq.jsonl", "{\"text\":\"Parking is free for bicycles.\"}\n");
        File.Delete(Path.Combine(docs, "vpn.txt"));
        var changed = await Ingest(book, docs, new IngestOptions { Collection = "hr", Prune = true, Scope = AccessScope.All });
        Assert.Equal(0, changed.Added);
        Assert.Equal(2, changed.Updated); // leave.md, and the faq record still present
        Assert.Equal(2, changed.Removed); // the dropped faq record and the deleted vpn.txt
        Assert.Equal(2, book.Store.ListDocuments().Count);
        Assert.Empty(book.Store.CheckConsistency());

        var hit = Assert.Single(await book.SearchAsync("vacation days Berlin", 1));
        Assert.Contains("30 vacation days", hit.Text);
        Assert.Empty(await book.SearchAsync("VPN public wifi", 5));
        Assert.Empty(await book.SearchAsync("canteen", 5));
    }

    [Fact]
    public async Task Corrupt_files_are_reported_and_the_rest_is_ingested()
    {
        using var dir = new TempDir();
        dir.File("docs/ok.md", "# Travel\n\nTrain tickets are reimbursed in second class.");
        dir.File("docs/broken.pdf", "%PDF-1.7 this is not really a pdf");
        dir.File("docs/broken.docx", "not a zip");
        dir.File("docs/bad.jsonl", "{\"text\":\"fine\"}\n{oops\n");
        dir.File("docs/image.png", "png");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        var report = await Ingest(book, Path.Combine(dir.Path, "docs"));
        Assert.True(report.AnythingIngested);
        Assert.Equal(2, report.Added); // ok.md and the good record of bad.jsonl (issue 14: one bad line no longer drops the file)
        Assert.Equal(["docs/broken.docx", "docs/broken.pdf"], report.Failed.Select(f => f.Path).Order());
        Assert.Contains(report.Notes, f => f.Path == "docs/bad.jsonl" && f.Reason.Contains("line 2"));
        Assert.Equal(1, report.SkippedRecords);
        Assert.Equal("docs/image.png", Assert.Single(report.Skipped).Path);
        Assert.Equal(2, book.Store.ListDocuments().Count);
    }

    [Fact]
    public async Task Nothing_ingested_when_every_file_fails()
    {
        using var dir = new TempDir();
        dir.File("docs/broken.pdf", "garbage");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        var report = await Ingest(book, Path.Combine(dir.Path, "docs"));
        Assert.False(report.AnythingIngested);
        Assert.Single(report.Failed);
    }

    [Fact]
    public async Task Tags_and_acl_follow_the_latest_ingest_and_filter_search()
    {
        using var dir = new TempDir();
        dir.File("hr/salaries.md", "# Salaries\n\nThe salary bands are reviewed every April.");
        dir.File("all/canteen.md", "# Canteen\n\nThe canteen salary of the chef is not public; lunch costs 4 euros.");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([Path.Combine(dir.Path, "hr")], new IngestOptions { Collection = "hr", Acl = ["hr"], Tags = ["confidential"] });
        await book.IngestAsync([Path.Combine(dir.Path, "all")], new IngestOptions { Collection = "general" });

        var asStaff = await book.SearchAsync("salary bands", new SearchOptions { K = 5, Filter = new SearchFilter { Groups = ["staff"] } });
        Assert.All(asStaff, h => Assert.Equal("all/canteen.md", h.Source));
        var asHr = await book.SearchAsync("salary bands", new SearchOptions { K = 5, Filter = new SearchFilter { Groups = ["hr"] } });
        Assert.Equal("hr/salaries.md", asHr[0].Source);
        var tagged = await book.SearchAsync("salary", new SearchOptions { K = 5, Filter = new SearchFilter { Tags = ["confidential"], Groups = ["hr"] } });
        Assert.Equal("hr/salaries.md", Assert.Single(tagged).Source);

        // Re-ingesting without an ACL keeps the document's ACL and tags.
        var kept = await book.IngestAsync([Path.Combine(dir.Path, "hr")], new IngestOptions { Collection = "hr" });
        Assert.Equal((1, 0), (kept.Unchanged, kept.AclChanged));
        var stillStaff = await book.SearchAsync("salary bands", new SearchOptions { K = 5, Filter = new SearchFilter { Groups = ["staff"] } });
        Assert.DoesNotContain(stillStaff, h => h.Source == "hr/salaries.md");
        Assert.Single(await book.SearchAsync("salary", new SearchOptions { K = 5, Filter = new SearchFilter { Tags = ["confidential"], Groups = ["hr"] } }));

        // An explicit empty ACL opens it up without rewriting chunks, and says so.
        var report = await book.IngestAsync([Path.Combine(dir.Path, "hr")], new IngestOptions { Collection = "hr", Acl = [] });
        Assert.Equal((1, 1, 0), (report.Unchanged, report.AclChanged, report.Chunks));
        var nowStaff = await book.SearchAsync("salary bands", new SearchOptions { K = 5, Filter = new SearchFilter { Groups = ["staff"] } });
        Assert.Contains(nowStaff, h => h.Source == "hr/salaries.md");
    }

    [Fact]
    public async Task New_records_of_a_restricted_file_stay_restricted_and_blank_groups_are_refused()
    {
        using var dir = new TempDir();
        var file = dir.File("hr/people.jsonl", "{\"id\":\"a\",\"text\":\"Alice earns band A7.\"}\n");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([file], new IngestOptions { Acl = ["hr"], Loaders = LoaderOptions.Default with { Json = new JsonLoaderOptions { IdField = "id" } } });
        File.AppendAllText(file, "{\"id\":\"b\",\"text\":\"Bob earns band B9.\"}\n");
        var report = await book.IngestAsync([file], new IngestOptions { Loaders = LoaderOptions.Default with { Json = new JsonLoaderOptions { IdField = "id" } } });
        Assert.Equal((1, 1), (report.Added, report.Updated));
        Assert.Empty(await book.SearchAsync("Bob band", new SearchOptions { K = 5 }));
        Assert.All(book.ListDocuments(AccessScope.All), d => Assert.Equal(["hr"], d.Acl));

        foreach (var bad in new[] { "", " ", "a,b", " hr" })
        {
            var e = await Assert.ThrowsAsync<OpenBookException>(() => book.IngestAsync([file], new IngestOptions { Acl = [bad] }));
            Assert.Contains("ACL name", e.Message);
        }
    }

    [Fact]
    public async Task A_failure_in_the_middle_of_a_document_keeps_the_previous_version_and_the_rerun_finishes()
    {
        using var dir = new TempDir();
        var text = "# Leave\n\n" + string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"Paragraph {i}: " + string.Join(' ', Enumerable.Repeat("vacation rules apply", 60))));
        dir.File("docs/leave.md", text);
        var storeDir = Path.Combine(dir.Path, "store");
        await using (var book = await Book.OpenAsync(storeDir))
            await Ingest(book, Path.Combine(dir.Path, "docs"));
        long chunksBefore;
        await using (var book = await Book.OpenAsync(storeDir))
        {
            chunksBefore = book.Store.Stats().Chunks;
            dir.File("docs/leave.md", text.Replace("vacation", "holiday"));
            book.Store.AfterChunkInserted = i => { if (i == 3) throw new IOException("simulated crash"); };
            await Assert.ThrowsAsync<IOException>(() => Ingest(book, Path.Combine(dir.Path, "docs")));
            Assert.Empty(book.Store.CheckConsistency());
            Assert.Equal(chunksBefore, book.Store.Stats().Chunks);
            Assert.NotEmpty(await book.SearchAsync("vacation", 1));
        }
        await using (var book = await Book.OpenAsync(storeDir))
        {
            var rerun = await Ingest(book, Path.Combine(dir.Path, "docs"));
            Assert.Equal(1, rerun.Updated);
            Assert.Empty(await book.SearchAsync("vacation", 1));
            Assert.NotEmpty(await book.SearchAsync("holiday", 1));
            Assert.Empty(book.Store.CheckConsistency());
        }
    }

    // Enough words that a section is not "tiny" (tiny sibling sections are merged under their common heading).
    private const string Filler = "Receipts are kept for audit, submitted within thirty days, approved by the line manager, and archived " +
                                  "by finance for ten years according to the retention schedule of the company.";

    [Fact]
    public async Task Citations_of_ingested_pdf_docx_and_markdown_point_to_page_and_heading()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "handbook", "hr"));
        File.WriteAllBytes(Path.Combine(dir.Path, "handbook", "hr", "leave.pdf"), TestDocuments.Pdf([
            TestDocuments.Column(60, "Leave policy overview for all staff members."),
            TestDocuments.Column(60, "Sick leave requires a doctor's note after three days."),
            TestDocuments.Column(60, "Unused vacation days carry over until the end of March."),
        ]));
        File.WriteAllBytes(Path.Combine(dir.Path, "handbook", "hr", "travel.docx"), TestDocuments.Docx(
            ("Heading1", "Travel"), (null, "Book trains in second class. " + Filler), ("Heading2", "Per diem"), (null, "The per diem in Boston is 64 dollars. " + Filler)));
        dir.File("handbook/it/vpn.md", "# VPN\n\n## Public networks\n\nAlways connect through the VPN on hotel wifi.\n");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        var report = await book.IngestAsync([Path.Combine(dir.Path, "handbook")]);
        Assert.Equal(3, report.Added);

        var pdfHit = (await book.SearchAsync("vacation carry over March", 1))[0];
        Assert.Equal("handbook/hr/leave.pdf p.3", pdfHit.Citation);
        var docxHit = (await book.SearchAsync("per diem Boston", 1))[0];
        Assert.Equal("handbook/hr/travel.docx › Travel › Per diem", docxHit.Citation);
        var mdHit = (await book.SearchAsync("hotel wifi", 1))[0];
        Assert.Equal("handbook/it/vpn.md › VPN › Public networks", mdHit.Citation);

        var answer = await book.AskAsync("Until when do unused vacation days carry over?");
        Assert.Contains("end of March", answer.Text);
        Assert.Equal(3, answer.Citations[0].Page);
    }
}
