using PdfSharp.Fonts;

namespace OpenBook.SampleCorpus;

/// <summary>
/// PDFsharp 6 has no system-font lookup on Linux, so the PDFs are set in DejaVu Sans loaded from TTF files:
/// the directory in OPENBOOK_FONT_DIR, else /usr/share/fonts/truetype/dejavu (Debian/Ubuntu: apt-get install fonts-dejavu-core).
/// Every family name resolves to DejaVu Sans (regular or bold), so the output never depends on other installed fonts.
/// </summary>
internal sealed class DejaVuFontResolver : IFontResolver
{
    public const string Family = "DejaVu Sans";
    private const string Regular = "DejaVuSans";
    private const string Bold = "DejaVuSans-Bold";
    private readonly Dictionary<string, byte[]> _faces = new(StringComparer.Ordinal);

    public DejaVuFontResolver()
    {
        var directory = Environment.GetEnvironmentVariable("OPENBOOK_FONT_DIR") is { Length: > 0 } d ? d : "/usr/share/fonts/truetype/dejavu";
        foreach (var face in new[] { Regular, Bold })
        {
            var file = Path.Combine(directory, face + ".ttf");
            if (!File.Exists(file))
                throw new FileNotFoundException(
                    $"Font file '{file}' not found. PDF generation needs DejaVu Sans: install it (Debian/Ubuntu: apt-get install -y fonts-dejavu-core) " +
                    "or set OPENBOOK_FONT_DIR to a directory holding DejaVuSans.ttf and DejaVuSans-Bold.ttf.", file);
            _faces[face] = File.ReadAllBytes(file);
        }
    }

    public FontResolverInfo ResolveTypeface(string familyName, bool bold, bool italic) =>
        new(bold ? Bold : Regular, false, italic); // real bold face; italic (unused) would be simulated

    public byte[] GetFont(string faceName) => _faces.TryGetValue(faceName, out var bytes)
        ? bytes
        : throw new ArgumentException($"Unknown font face '{faceName}'", nameof(faceName));
}
