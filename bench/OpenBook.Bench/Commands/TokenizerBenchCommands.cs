using System.CommandLine;
using System.Diagnostics;
using System.Text;
using OpenBook.Cli.Commands;
using OpenBook.Models.Formats.Tokenization;
using Spectre.Console;

namespace OpenBook.Bench.Commands;

using Cli = OpenBook.Cli.Cli;

/// <summary><c>openbook-bench tokenizer</c>: HfTokenizer load time and encode/decode throughput on real text.</summary>
internal static class TokenizerBenchCommands
{
    public static Command Tokenizer()
    {
        var dir = new Option<string>("--tokenizer") { Description = "Model or tokenizer directory (tokenizer.json [+ tokenizer_config.json])", Required = true };
        var text = new Option<string[]>("--text")
        {
            Description = "Text files to encode (default: the bundled sample handbook)", AllowMultipleArgumentsPerToken = true,
        };
        var mb = new Option<double>("--mb") { Description = "Megabytes of text per timed pass (the text is repeated to reach it)", DefaultValueFactory = _ => 4 };
        var quick = new Option<bool>("--quick") { Description = "0.5 MB per pass" };
        var cmd = new Command("tokenizer", "Tokenizer load time and encode/decode throughput (single thread)") { dir, text, mb, quick };
        Cli.SetHandler(cmd, (r, ct) =>
        {
            var files = r.GetValue(text) is { Length: > 0 } t ? t
                : Directory.Exists(Path.Combine(DemoCommands.SamplesDirectory, "handbook"))
                    ? Directory.EnumerateFiles(Path.Combine(DemoCommands.SamplesDirectory, "handbook"), "*.md", SearchOption.AllDirectories).Order().ToArray()
                    : throw new OpenBookException("no --text given and the bundled sample handbook was not found");
            var source = string.Join("\n\n", files.Select(File.ReadAllText));
            if (source.Length == 0) throw new OpenBookException("the text files are empty");
            var targetBytes = (long)((r.GetValue(quick) ? 0.5 : r.GetValue(mb)) * 1e6);

            var sw = Stopwatch.StartNew();
            var tok = HfTokenizer.FromDirectory(r.GetValue(dir)!);
            var loadMs = sw.Elapsed.TotalMilliseconds;

            // Cold pass: every distinct word goes through BPE merging once (the word cache starts empty).
            var sourceBytes = Encoding.UTF8.GetByteCount(source);
            sw.Restart();
            var coldIds = tok.Encode(source, addSpecialTokens: false);
            var coldSeconds = sw.Elapsed.TotalSeconds;

            // Warm passes over the text repeated to the target size, split in paragraphs as a chunker would.
            var paragraphs = source.Split("\n\n");
            long bytes = 0, tokens = 0;
            var ids = new List<int[]>();
            sw.Restart();
            while (bytes < targetBytes)
                foreach (var p in paragraphs)
                {
                    ct.ThrowIfCancellationRequested();
                    var e = tok.Encode(p, addSpecialTokens: false);
                    tokens += e.Length;
                    bytes += Encoding.UTF8.GetByteCount(p);
                    if (ids.Count < paragraphs.Length) ids.Add(e);
                }
            var warmSeconds = sw.Elapsed.TotalSeconds;

            sw.Restart();
            long decodedChars = 0;
            var decodedTokens = 0L;
            while (decodedTokens < tokens)
                foreach (var e in ids) { decodedChars += tok.Decode(e).Length; decodedTokens += e.Length; }
            var decodeSeconds = sw.Elapsed.TotalSeconds;

            sw.Restart();
            var stream = tok.CreateStreamingDecoder();
            foreach (var id in coldIds) stream.Append(id);
            var streamSeconds = sw.Elapsed.TotalSeconds;

            var result = new
            {
                tokenizer = Path.GetFullPath(r.GetValue(dir)!), vocabSize = tok.VocabSize, merges = tok.Model.MergeCount,
                loadMs = Math.Round(loadMs, 1),
                textBytes = sourceBytes, textTokens = coldIds.Length, bytesPerToken = Math.Round(sourceBytes / (double)coldIds.Length, 2),
                coldEncodeMBps = Math.Round(sourceBytes / 1e6 / coldSeconds, 2),
                warmEncodeMBps = Math.Round(bytes / 1e6 / warmSeconds, 2), warmEncodeTokensPerSecond = Math.Round(tokens / warmSeconds, 0),
                decodeTokensPerSecond = Math.Round(decodedTokens / decodeSeconds, 0),
                streamingDecodeTokensPerSecond = Math.Round(coldIds.Length / streamSeconds, 0),
                loadAverage1m = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
                cores = Environment.ProcessorCount,
            };
            if (r.GetValue(Cli.Json)) Cli.WriteJson(result);
            else
            {
                var table = new Table().AddColumns("metric", "value");
                table.AddRow("tokenizer", Markup.Escape($"{result.tokenizer} ({result.vocabSize} ids, {result.merges} merges)"));
                table.AddRow("load", $"{result.loadMs:0} ms");
                table.AddRow("text", $"{sourceBytes / 1e6:0.00} MB → {coldIds.Length} tokens ({result.bytesPerToken} bytes/token)");
                table.AddRow("encode, cold word cache", $"{result.coldEncodeMBps} MB/s");
                table.AddRow("encode, warm (paragraphs)", $"{result.warmEncodeMBps} MB/s, {result.warmEncodeTokensPerSecond:0} tokens/s");
                table.AddRow("decode", $"{result.decodeTokensPerSecond:0} tokens/s");
                table.AddRow("streaming decode (per token)", $"{result.streamingDecodeTokensPerSecond:0} tokens/s");
                table.AddRow("machine", $"{result.cores} cores, load average {result.loadAverage1m ?? "?"}");
                Cli.Out(r).Write(table);
            }
            return Task.FromResult(0);
        });
        return cmd;
    }
}
