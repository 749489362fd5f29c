using OpenBook.Ingestion;

namespace OpenBook.Tests.Ingestion;

public class SourceWalkerTests
{
    [Fact]
    public void Walks_recursively_with_globs_hidden_files_and_unknown_types()
    {
        using var dir = new TempDir();
        dir.File("docs/hr/leave.md", "# Leave");
        dir.File("docs/hr/drafts/new.md", "# Draft");
        dir.File("docs/it/vpn.txt", "VPN");
        dir.File("docs/it/logo.png", "png");
        dir.File("docs/.git/config", "x");
        dir.File("docs/.openbook/openbook.db", "x");
        var walker = new SourceWalker(LoaderRegistry.CreateDefault(), new WalkOptions { Exclude = ["**/drafts/**"] });
        var files = walker.Walk([Path.Combine(dir.Path, "docs")]).ToList();
        Assert.Equal(["docs/hr/leave.md", "docs/it/logo.png", "docs/it/vpn.txt"], files.Select(f => f.SourcePath));
        Assert.Equal("unknown type .png", files.Single(f => !f.IsLoadable).SkipReason);

        var onlyMd = new SourceWalker(LoaderRegistry.CreateDefault(), new WalkOptions { Include = ["**/*.md"] }).Walk([Path.Combine(dir.Path, "docs")]).ToList();
        Assert.Equal(["docs/hr/drafts/new.md", "docs/hr/leave.md"], onlyMd.Select(f => f.SourcePath));
    }

    [Fact]
    public void Missing_path_is_an_error_naming_it()
    {
        var e = Assert.Throws<OpenBookException>(() => new SourceWalker(LoaderRegistry.CreateDefault()).Walk(["/no/such/dir"]));
        Assert.Contains("/no/such/dir", e.Message);
    }
}
