using OpenBook.SampleCorpus;
using PdfSharp;
using PdfSharp.Fonts;

// OpenBook.SampleCorpus: generates the .pdf/.docx files of samples/handbook from tools/OpenBook.SampleCorpus/sources
// and validates samples/questions.jsonl against the corpus.
//   dotnet run --project tools/OpenBook.SampleCorpus -- generate [--root REPO]
//   dotnet run --project tools/OpenBook.SampleCorpus -- validate [--root REPO]
const string usage = "usage: OpenBook.SampleCorpus generate|validate [--root REPO_ROOT]";
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}
string? root = null;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--root" && i + 1 < args.Length) root = args[++i];
    else { Console.Error.WriteLine($"unknown argument '{args[i]}'\n{usage}"); return 2; }
}
try
{
    var paths = CorpusPaths.Find(root);
    PdfSharpLicense.SetAgplLicense(); // PDFsharp 6.5 requires choosing a license; this dev-only generator uses the AGPL one.
    GlobalFontSettings.FontResolver = new DejaVuFontResolver();
    return args[0] switch
    {
        "generate" => Generator.Run(paths),
        "validate" => Validator.Run(paths),
        _ => Usage(),
    };
}
catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or FormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

int Usage()
{
    Console.Error.WriteLine($"unknown verb '{args[0]}'\n{usage}");
    return 2;
}
