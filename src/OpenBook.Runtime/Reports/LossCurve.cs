using System.Text.Json.Nodes;

namespace OpenBook.Runtime.Reports;

/// <summary>Draws <c>metrics.jsonl</c> of a training run (training loss per step, validation loss) as a PNG.</summary>
public static class LossCurve
{
    public static string? Write(string metricsPath, string pngPath, string title = "Fine-tuning loss")
    {
        if (!File.Exists(metricsPath)) return null;
        var train = new List<(double Step, double Loss)>();
        var eval = new List<(double Step, double Loss)>();
        foreach (var line in File.ReadLines(metricsPath))
        {
            if (JsonNode.Parse(line) is not JsonObject o || o["step"] is null) continue;
            double step = (double)o["step"]!;
            if (o["loss"] is { } l) train.Add((step, (double)l));
            if (o["eval_loss"] is { } e) eval.Add((step, (double)e));
        }
        if (train.Count == 0) return null;
        var plot = new ScottPlot.Plot();
        var t = plot.Add.Scatter(train.Select(p => p.Step).ToArray(), train.Select(p => p.Loss).ToArray());
        t.LegendText = "training loss";
        t.MarkerSize = train.Count > 60 ? 0 : 4;
        if (eval.Count > 0)
        {
            var v = plot.Add.Scatter(eval.Select(p => p.Step).ToArray(), eval.Select(p => p.Loss).ToArray());
            v.LegendText = "validation loss";
            v.MarkerSize = 6;
        }
        plot.XLabel("optimizer step");
        plot.YLabel("cross-entropy per target token");
        plot.Title(title);
        plot.ShowLegend();
        plot.SavePng(pngPath, 900, 500);
        return pngPath;
    }
}
