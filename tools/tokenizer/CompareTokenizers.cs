#:project ../../src/OpenBook.Models/OpenBook.Models.csproj
#:property PublishAot=false
// Compares OpenBook's HfTokenizer with Hugging Face tokenizers' reference output (expected.json written by
// tools/reference/tokenizers-reference.js) for every model folder under DIR:
//   dotnet run tools/tokenizer/CompareTokenizers.cs -- DIR
// Prints, per folder, how many cases encode (with/without special tokens) and decode identically.
using System.Text.Json;
using OpenBook.Models.Formats.Tokenization;

if (args.Length != 1) { Console.Error.WriteLine("usage: CompareTokenizers.cs DIR"); return 2; }
var failures = 0;
foreach (var dir in Directory.EnumerateDirectories(args[0]).Order())
{
    var expectedFile = Path.Combine(dir, "expected.json");
    if (!File.Exists(expectedFile)) continue;
    var sw = System.Diagnostics.Stopwatch.StartNew();
    var tok = HfTokenizer.FromDirectory(dir);
    var load = sw.Elapsed.TotalMilliseconds;
    using var doc = JsonDocument.Parse(File.ReadAllText(expectedFile));
    int n = 0, ok = 0, tokens = 0;
    sw.Restart();
    foreach (var c in doc.RootElement.EnumerateArray())
    {
        n++;
        var text = c.GetProperty("text").GetString()!;
        var ids = c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var idsSpecial = c.GetProperty("idsWithSpecial").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var mine = tok.Encode(text, addSpecialTokens: false);
        tokens += mine.Length;
        var good = mine.SequenceEqual(ids) && tok.Encode(text, true).SequenceEqual(idsSpecial)
                   && tok.Decode(idsSpecial, false) == c.GetProperty("decoded").GetString()
                   && tok.Decode(idsSpecial, true) == c.GetProperty("decodedSkipSpecial").GetString();
        if (good) { ok++; continue; }
        if (failures++ < 10)
            Console.WriteLine($"  MISMATCH {Path.GetFileName(dir)}: {JsonSerializer.Serialize(text)}\n    ours [{string.Join(",", mine)}]\n    HF   [{string.Join(",", ids)}]");
    }
    Console.WriteLine($"{Path.GetFileName(dir)}: {ok}/{n} cases identical to HF tokenizers ({tokens} tokens; load {load:0} ms, compare {sw.Elapsed.TotalMilliseconds:0} ms)");
}
return failures == 0 ? 0 : 1;
