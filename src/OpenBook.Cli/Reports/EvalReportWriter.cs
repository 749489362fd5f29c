using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenBook.Evaluation;

namespace OpenBook.Cli.Reports;

/// <summary>Writes an evaluation as results.json, report.md, report.html and PNG charts (ScottPlot).</summary>
internal static class EvalReportWriter
{
    private static readonly (string Name, Func<ModeResult, double?> Value)[] Metrics =
    [
        ("exact match", m => m.ExactMatch),
        ("token F1", m => m.F1),
        ("answer contained", m => m.Contained),
        ("retrieval recall@k", m => m.RecallAtK),
        ("MRR", m => m.Mrr),
        ("citation correct", m => m.CitationCorrectness),
        ("refusal (unanswerable)", m => m.RefusalRate),
        ("false refusal", m => m.FalseRefusalRate),
    ];

    /// <summary>Writes every report file into <paramref name="directory"/> and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string directory, string questionsPath, IReadOnlyList<ModeResult> results)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>
        {
            WriteJson(Path.Combine(directory, "results.json"), questionsPath, results),
            WriteChart(Path.Combine(directory, "metrics.png"), results),
            WriteLatencyChart(Path.Combine(directory, "latency.png"), results),
        };
        files.Add(WriteMarkdown(Path.Combine(directory, "report.md"), questionsPath, results));
        files.Add(WriteHtml(Path.Combine(directory, "report.html"), questionsPath, results));
        return files;
    }

    private static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
    private static string Ms(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);

    private static string WriteJson(string path, string questionsPath, IReadOnlyList<ModeResult> results)
    {
        var json = JsonSerializer.Serialize(new
        {
            questions = questionsPath,
            created = DateTimeOffset.UtcNow,
            modes = results.Select(r => new
            {
                mode = r.Mode, description = r.Description, questions = r.Questions, exactMatch = r.ExactMatch, f1 = r.F1, contained = r.Contained,
                recallAtK = r.RecallAtK, mrr = r.Mrr, citationCorrectness = r.CitationCorrectness, refusalRate = r.RefusalRate,
                falseRefusalRate = r.FalseRefusalRate, p50Ms = r.P50Milliseconds, p95Ms = r.P95Milliseconds, inputTokens = r.InputTokens, outputTokens = r.OutputTokens,
                rows = r.Rows,
            }),
        }, new JsonSerializerOptions(Cli.JsonOptions) { WriteIndented = true });
        File.WriteAllText(path, json);
        return path;
    }

    private static string Table(IReadOnlyList<ModeResult> results, Func<string[], string> row, Func<string[], string> header)
    {
        var sb = new StringBuilder();
        sb.Append(header(["mode", .. Metrics.Select(m => m.Name), "p50 ms", "p95 ms", "tokens in/out"]));
        foreach (var r in results)
            sb.Append(row([r.Mode, .. Metrics.Select(m => F(m.Value(r))), Ms(r.P50Milliseconds), Ms(r.P95Milliseconds),
                r.InputTokens is null ? "–" : $"{r.InputTokens}/{r.OutputTokens}"]));
        return sb.ToString();
    }

    private static string WriteMarkdown(string path, string questionsPath, IReadOnlyList<ModeResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# OpenBook evaluation").AppendLine();
        sb.AppendLine($"Questions: `{questionsPath}` ({results[0].Questions}, of which {results[0].Rows.Count(r => !r.Answerable)} unanswerable). " +
                      $"Generated {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        sb.Append(Table(results,
            cells => "| " + string.Join(" | ", cells) + " |\n",
            cells => "| " + string.Join(" | ", cells) + " |\n|" + string.Concat(cells.Select(_ => "---|")) + "\n"));
        sb.AppendLine().AppendLine("![metrics](metrics.png)").AppendLine().AppendLine("![latency](latency.png)").AppendLine();
        sb.AppendLine("Metrics: exact match, token F1 and answer-contained are over answerable questions (refusals score 0); retrieval " +
                      "recall@k and MRR locate the oracle document among the retrieved passages; citation correct = a cited passage " +
                      "contains the gold answer or quote; refusal = unanswerable questions answered \"not in the documents\".").AppendLine();
        foreach (var r in results)
        {
            sb.AppendLine($"## {r.Mode}").AppendLine().AppendLine(r.Description).AppendLine();
            var misses = r.Rows.Where(x => x.Answerable && x.Contained == 0).Take(10).ToList();
            if (misses.Count == 0) continue;
            sb.AppendLine("Answerable questions whose answer does not contain the gold answer (first 10):").AppendLine();
            foreach (var m in misses)
                sb.AppendLine($"- **{m.Id}** {m.Question} — expected *{m.Gold}*; got: {(m.Refused ? "(refused)" : Flat(m.Prediction, 200))}");
            sb.AppendLine();
        }
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static string Flat(string s, int max)
    {
        var flat = string.Join(' ', s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= max ? flat : flat[..max] + "…";
    }

    private static string WriteHtml(string path, string questionsPath, IReadOnlyList<ModeResult> results)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>OpenBook evaluation</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
          .Append("td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}</style></head><body>")
          .Append("<h1>OpenBook evaluation</h1><p>Questions: <code>").Append(E(questionsPath)).Append("</code></p><table>");
        sb.Append(Table(results,
            cells => "<tr>" + string.Concat(cells.Select(c => $"<td>{E(c)}</td>")) + "</tr>",
            cells => "<tr>" + string.Concat(cells.Select(c => $"<th>{E(c)}</th>")) + "</tr>"));
        sb.Append("</table><p><img src=\"metrics.png\" alt=\"metrics\"></p><p><img src=\"latency.png\" alt=\"latency\"></p>");
        foreach (var r in results)
        {
            sb.Append("<h2>").Append(E(r.Mode)).Append("</h2><p>").Append(E(r.Description)).Append("</p><table><tr><th>id</th><th>question</th><th>expected</th><th>answer</th><th>F1</th></tr>");
            foreach (var row in r.Rows)
                sb.Append("<tr><td>").Append(E(row.Id)).Append("</td><td>").Append(E(row.Question)).Append("</td><td>").Append(E(row.Gold ?? "(unanswerable)"))
                  .Append("</td><td>").Append(E(row.Refused ? "(refused)" : Flat(row.Prediction, 300))).Append("</td><td>").Append(F(row.F1)).Append("</td></tr>");
            sb.Append("</table>");
        }
        sb.Append("</body></html>");
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static string WriteChart(string path, IReadOnlyList<ModeResult> results)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var metrics = Metrics.Where(m => results.Any(r => m.Value(r) is not null)).ToArray();
        var width = 0.8 / results.Count;
        for (var i = 0; i < results.Count; i++)
        {
            var positions = metrics.Select((_, j) => j + (i - (results.Count - 1) / 2.0) * width).ToArray();
            var values = metrics.Select(m => m.Value(results[i]) ?? 0).ToArray();
            var bars = plot.Add.Bars(positions, values);
            bars.LegendText = results[i].Mode;
            bars.Color = palette.GetColor(i);
            foreach (var bar in bars.Bars) bar.Size = width * 0.9;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, metrics.Length).Select(j => (double)j).ToArray(), metrics.Select(m => m.Name.Replace(' ', '\n')).ToArray());
        plot.Axes.Bottom.MinimumSize = 60;
        plot.Axes.SetLimitsY(0, 1.05);
        plot.Title("Answer and retrieval quality by mode");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 560);
        return path;
    }

    private static string WriteLatencyChart(string path, IReadOnlyList<ModeResult> results)
    {
        var plot = new ScottPlot.Plot();
        var p50 = plot.Add.Bars(results.Select((_, i) => i - 0.2).ToArray(), results.Select(r => r.P50Milliseconds).ToArray());
        p50.LegendText = "p50";
        var p95 = plot.Add.Bars(results.Select((_, i) => i + 0.2).ToArray(), results.Select(r => r.P95Milliseconds).ToArray());
        p95.LegendText = "p95";
        foreach (var bar in p50.Bars.Concat(p95.Bars)) bar.Size = 0.38;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, results.Count).Select(i => (double)i).ToArray(), results.Select(r => r.Mode).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("ms per question");
        plot.Title("Latency by mode");
        plot.ShowLegend();
        plot.SavePng(path, 700, 420);
        return path;
    }
}
