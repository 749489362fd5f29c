using OpenBook.Retrieval;
using OpenBook.Storage;
using static OpenBook.Tests.Storage.DocumentStoreTests;

namespace OpenBook.Tests.Storage;

public class BookIndexTests
{
    [Fact]
    public async Task Index_follows_the_store_across_instances_and_survives_corruption()
    {
        using var dir = new TempDir();
        await using (var book = await Book.OpenAsync(dir.Path))
        {
            book.Store.ReplaceDocument(Doc("/vacation.md"), Chunks("Berlin staff get 30 vacation days.", "Boston staff get 20 vacation days."));
            Assert.Equal(2, (await book.SearchAsync("vacation days", 5)).Count);
            Assert.Equal("built", book.LexicalIndexStatus);
        }
        Assert.True(File.Exists(Path.Combine(dir.Path, "indexes", "bm25.idx")));

        // Another writer changes the store behind the saved index: the next open catches up from the change log.
        using (var store = DocumentStore.Open(dir.Path))
        {
            store.ReplaceDocument(Doc("/vacation.md", "h2"), Chunks("Berlin staff get 28 vacation days."));
            store.ReplaceDocument(Doc("/laptop.md"), Chunks("Laptops are replaced every three years."));
        }
        await using (var book = await Book.OpenAsync(dir.Path))
        {
            var hits = await book.SearchAsync("vacation days", 5);
            Assert.Equal("Berlin staff get 28 vacation days.", Assert.Single(hits).Text);
            Assert.Equal("loaded", book.LexicalIndexStatus);
            Assert.Single(await book.SearchAsync("laptops replaced", 5));
        }

        // Corrupt the index file: it is rebuilt from the store, with the same results.
        var path = Path.Combine(dir.Path, "indexes", "bm25.idx");
        var bytes = File.ReadAllBytes(path);
        bytes[^40] ^= 0xFF;
        File.WriteAllBytes(path, bytes);
        await using (var book = await Book.OpenAsync(dir.Path))
        {
            Assert.Single(await book.SearchAsync("vacation days", 5));
            Assert.StartsWith("rebuilt", book.LexicalIndexStatus);
        }
    }

    [Fact]
    public async Task Acl_filtered_chunks_are_never_returned_by_search_or_ask()
    {
        using var dir = new TempDir();
        await using var book = await Book.OpenAsync(dir.Path);
        book.Store.ReplaceDocument(Doc("/salaries.md", acl: ["hr"]), Chunks("The salary band for engineers is 70,000 to 95,000 EUR."));
        book.Store.ReplaceDocument(Doc("/handbook.md"), Chunks("Salary reviews happen every April."));

        var anonymous = await book.SearchAsync("salary band engineers", 10);
        Assert.Equal("/handbook.md", Assert.Single(anonymous).Source.Insert(0, "/"));
        var staff = await book.SearchAsync("salary band engineers", 10, new SearchFilter { Groups = ["staff"] });
        Assert.Single(staff);
        var hr = await book.SearchAsync("salary band engineers", 10, new SearchFilter { Groups = ["hr"] });
        Assert.Equal(2, hr.Count);

        var answer = await book.AskAsync("What is the salary band for engineers?");
        Assert.DoesNotContain("95,000", answer.Text);
        Assert.All(answer.Retrieved, h => Assert.Equal("handbook.md", h.Source));
        var hrAnswer = await book.AskAsync("What is the salary band for engineers?", new AskOptions { Filter = new SearchFilter { Groups = ["hr"] } });
        Assert.Contains("70,000 to 95,000 EUR", hrAnswer.Text);
    }
}
