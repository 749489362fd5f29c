namespace OpenBook.Tests.Storage;

public class DocumentTextsTests
{
    [Fact]
    public async Task Document_texts_respect_the_access_scope()
    {
        using var dir = new TempDir();
        dir.File("open/handbook.md", "# Handbook\n\nEveryone may read the handbook about vacation.\n");
        dir.File("board/minutes.md", "# Minutes\n\nThe board discussed the secret merger.\n");
        dir.File("hr/salaries.md", "# Salaries\n\nSalary bands are confidential.\n");
        await using var book = await Book.OpenAsync(Path.Combine(dir.Path, "store"));
        await book.IngestAsync([Path.Combine(dir.Path, "open")]);
        await book.IngestAsync([Path.Combine(dir.Path, "board")], new IngestOptions { Acl = ["board"] });
        await book.IngestAsync([Path.Combine(dir.Path, "hr")], new IngestOptions { Acl = ["hr"] });

        var anonymous = book.ReadDocumentTexts(AccessScope.Public).ToList();
        Assert.Single(anonymous);
        Assert.Contains("handbook", anonymous[0]);
        var board = book.ReadDocumentTexts(AccessScope.ForGroups(["board"])).ToList();
        Assert.Equal(2, board.Count);
        Assert.DoesNotContain(board, t => t.Contains("Salary"));
        Assert.Equal(3, book.ReadDocumentTexts(AccessScope.All).Count());
    }
}
