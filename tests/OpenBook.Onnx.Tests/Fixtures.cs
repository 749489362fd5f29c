using System.Text.Json;

namespace OpenBook.Onnx.Tests;

/// <summary>Paths of the committed encoder fixtures (tests/fixtures/encoders, made by tools/onnx/make_tiny_encoder.py).</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "fixtures", "encoders");
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException("tests/fixtures/encoders not found above " + AppContext.BaseDirectory);
    });

    public static string Encoder(string name) => Path.Combine(Root.Value, name);

    public static JsonElement Reference(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Encoder(name), "reference.json"))).RootElement;

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();

    /// <summary>Copies a fixture directory to a temp dir so a test can break it.</summary>
    public static TempDir CopyOf(string name)
    {
        var t = new TempDir();
        var src = Encoder(name);
        foreach (var f in Directory.EnumerateFiles(src, "*", SearchOption.AllDirectories))
        {
            var dst = Path.Combine(t.Path, Path.GetRelativePath(src, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
        return t;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - actual[i]) > tolerance)
                Assert.Fail($"{what}: element {i} expected {expected[i]} got {actual[i]} (tolerance {tolerance}).");
    }
}

/// <summary>A temporary directory deleted at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "openbook-onnx-tests", Guid.NewGuid().ToString("N")));

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
