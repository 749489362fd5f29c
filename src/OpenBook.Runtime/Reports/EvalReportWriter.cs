using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenBook.Evaluation;

namespace OpenBook.Runtime.Reports;

/// <summary>Everything one <c>openbook eval</c> run measured.</summary>
public sealed record EvalReport(string QuestionsPath, IReadOnlyList<ModeResult> Modes, SweepReport? Sweep);

/// <summary>The distractor sweep's contexts and per-mode, per-k results.</summary>
public sealed record SweepReport(DistractorSweep Sweep, IReadOnlyList<SweepResult> Results);

/// <summary>Writes an evaluation as results.json, report.md, report.html and PNG charts (ScottPlot).</summary>
public static class EvalReportWriter
{
    private static readonly (string Name, Func<ModeResult, double?> Value)[] Metrics =
    [
        ("exact match", m => m.ExactMatch),
        ("token F1", m => m.F1),
        ("answer contained", m => m.Contained),
        ("retrieval recall@k", m => m.RecallAtK),
        ("MRR", m => m.Mrr),
        ("citation correct", m => m.CitationCorrectness),
        ("quotes verbatim", m => m.QuoteVerbatimRate),
        ("refusal (unanswerable)", m => m.RefusalRate),
        ("false refusal", m => m.FalseRefusalRate),
    ];

    /// <summary>Writes every report file into <paramref name="directory"/> and returns their paths.</summary>
    public static IReadOnlyList<string> Write(string directory, EvalReport report)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>
        {
            WriteJson(Path.Combine(directory, "results.json"), report),
            WriteChart(Path.Combine(directory, "metrics.png"), report.Modes),
            WriteLatencyChart(Path.Combine(directory, "latency.png"), report.Modes),
        };
        if (report.Sweep is { } sweep) files.Add(WriteSweepChart(Path.Combine(directory, "sweep.png"), sweep));
        files.Add(WriteMarkdown(Path.Combine(directory, "report.md"), report));
        files.Add(WriteHtml(Path.Combine(directory, "report.html"), report));
        return files;
    }

    /// <summary>Header + one row per mode, shared by the console, Markdown and HTML tables.</summary>
    public static IReadOnlyList<string[]> ModeTable(IReadOnlyList<ModeResult> results) =>
    [
        ["mode", .. Metrics.Select(m => m.Name), "empty answers", "p50 ms", "p95 ms", "tokens in", "tokens out"],
        .. results.Select(r => (string[])[r.Mode, .. Metrics.Select(m => F(m.Value(r))), F(r.EmptyRate), Ms(r.P50Milliseconds), Ms(r.P95Milliseconds),
            r.InputTokens?.ToString(CultureInfo.InvariantCulture) ?? "–", r.OutputTokens?.ToString(CultureInfo.InvariantCulture) ?? "–"]),
    ];

    /// <summary>Header + one row per mode and k of the sweep.</summary>
    public static IReadOnlyList<string[]> SweepTable(SweepReport sweep) =>
    [
        ["mode", "distractors", "answer contained", "token F1", "citation correct", "false refusal", "quotes verbatim"],
        .. sweep.Results.Select(x => new[]
        {
            x.Mode, x.Distractors.ToString(CultureInfo.InvariantCulture), F(x.Result.Contained), F(x.Result.F1), F(x.Result.CitationCorrectness),
            F(x.Result.FalseRefusalRate), F(x.Result.QuoteVerbatimRate),
        }),
    ];

    /// <summary>"2 without a source, 0 whose source is not in the store".</summary>
    public static string SkippedText(DistractorSweep sweep) =>
        $"skipped {sweep.SkippedNoSource} without a source, {sweep.SkippedSourceNotFound.Count} whose source is not in the store";

    private static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
    private static string Ms(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);

    private static string WriteJson(string path, EvalReport report)
    {
        var json = JsonSerializer.Serialize(new EvalResultsJson(report.QuestionsPath, DateTimeOffset.UtcNow, report.Modes.Select(ModeResultsJson.Of).ToList(),
            SweepSummary.Of(report.Sweep, withContexts: true)), new JsonSerializerOptions(OpenBookJson.Options) { WriteIndented = true });
        File.WriteAllText(path, json);
        return path;
    }

    private static string Table(IReadOnlyList<string[]> rows, Func<string[], string> row, Func<string[], string> header)
    {
        var sb = new StringBuilder(header(rows[0]));
        foreach (var r in rows.Skip(1)) sb.Append(row(r));
        return sb.ToString();
    }

    private static string MarkdownTable(IReadOnlyList<string[]> rows) => Table(rows,
        cells => "| " + string.Join(" | ", cells) + " |\n",
        cells => "| " + string.Join(" | ", cells) + " |\n|" + string.Concat(cells.Select(_ => "---|")) + "\n");

    private static string HtmlTable(IReadOnlyList<string[]> rows) => "<table>" + Table(rows,
        cells => "<tr>" + string.Concat(cells.Select(c => $"<td>{WebUtility.HtmlEncode(c)}</td>")) + "</tr>",
        cells => "<tr>" + string.Concat(cells.Select(c => $"<th>{WebUtility.HtmlEncode(c)}</th>")) + "</tr>") + "</table>";

    private static string SweepIntro(SweepReport s) =>
        $"Distractor sweep (seed {s.Sweep.Seed}): each of {s.Sweep.Contexts.Count} questions is answered from its oracle passage plus k distractor " +
        $"passages drawn from other documents, shuffled, instead of retrieval ({SkippedText(s.Sweep)}).";

    private static string WriteMarkdown(string path, EvalReport report)
    {
        var (questionsPath, results) = (report.QuestionsPath, report.Modes);
        var sb = new StringBuilder();
        sb.AppendLine("# OpenBook evaluation").AppendLine();
        sb.AppendLine($"Questions: `{questionsPath}` ({results[0].Questions}, of which {results[0].Rows.Count(r => !r.Answerable)} unanswerable). " +
                      $"Generated {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        sb.Append(MarkdownTable(ModeTable(results)));
        sb.AppendLine().AppendLine("![metrics](metrics.png)").AppendLine().AppendLine("![latency](latency.png)").AppendLine();
        if (report.Sweep is { } sweep)
        {
            sb.AppendLine("## Distractor sweep").AppendLine().AppendLine(SweepIntro(sweep)).AppendLine();
            sb.Append(MarkdownTable(SweepTable(sweep))).AppendLine().AppendLine("![sweep](sweep.png)").AppendLine();
        }
        sb.AppendLine("Metrics: exact match, token F1 and answer-contained are over answerable questions (refusals score 0); retrieval " +
                      "recall@k and MRR locate the oracle document among the retrieved passages; citation correct = a cited passage " +
                      "contains the gold answer or quote; quotes verbatim = share of RAFT quotes found word for word in a passage; refusal = " +
                      "unanswerable questions answered \"not in the documents\" (or \"I don't know\"); empty answers = questions answered with no " +
                      "text at all (not counted as refusals); tokens = totals reported by the model.").AppendLine();
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

    private static string WriteHtml(string path, EvalReport report)
    {
        var (questionsPath, results) = (report.QuestionsPath, report.Modes);
        static string E(string s) => WebUtility.HtmlEncode(s);
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>OpenBook evaluation</title><style>")
          .Append("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
          .Append("td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}</style></head><body>")
          .Append("<h1>OpenBook evaluation</h1><p>Questions: <code>").Append(E(questionsPath)).Append("</code></p>");
        sb.Append(HtmlTable(ModeTable(results)));
        sb.Append("<p><img src=\"metrics.png\" alt=\"metrics\"></p><p><img src=\"latency.png\" alt=\"latency\"></p>");
        if (report.Sweep is { } sweep)
            sb.Append("<h2>Distractor sweep</h2><p>").Append(E(SweepIntro(sweep))).Append("</p>").Append(HtmlTable(SweepTable(sweep)))
              .Append("<p><img src=\"sweep.png\" alt=\"sweep\"></p>");
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

    private static string WriteSweepChart(string path, SweepReport sweep)
    {
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var modes = sweep.Results.Select(x => x.Mode).Distinct().ToList();
        for (var i = 0; i < modes.Count; i++)
        {
            var points = sweep.Results.Where(x => x.Mode == modes[i]).OrderBy(x => x.Distractors).ToList();
            var line = plot.Add.Scatter(points.Select(x => (double)x.Distractors).ToArray(), points.Select(x => x.Result.Contained).ToArray());
            line.LegendText = modes[i];
            line.Color = palette.GetColor(i);
            line.LineWidth = 2;
            line.MarkerSize = 7;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            sweep.Sweep.Distractors.Select(k => (double)k).ToArray(), sweep.Sweep.Distractors.Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.SetLimitsY(0, 1.05);
        plot.XLabel("distractor passages beside the oracle (k)");
        plot.YLabel("answer contained");
        plot.Title("Robustness to distractors");
        plot.ShowLegend();
        plot.SavePng(path, 800, 480);
        return path;
    }
}
