namespace OpenBook.Models.Tests.Tokenization;

/// <summary>Locates the committed fixtures (tests/OpenBook.Models.Tests/Fixtures) from the test's output folder.</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "OpenBook.Models.Tests", "Fixtures");
            if (Directory.Exists(candidate)) return candidate;
            candidate = Path.Combine(dir.FullName, "Fixtures");
            if (Directory.Exists(Path.Combine(candidate, "tokenizer"))) return candidate;
        }
        throw new DirectoryNotFoundException("tests/OpenBook.Models.Tests/Fixtures not found above " + AppContext.BaseDirectory);
    });

    public static string Root => RootPath.Value;

    public static string Tokenizer(string name) => Path.Combine(Root, "tokenizer", name);
}
