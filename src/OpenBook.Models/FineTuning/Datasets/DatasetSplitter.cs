using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenBook.Models.FineTuning.Datasets;

/// <summary>Where a split went and how many examples each side holds.</summary>
public sealed record SplitResult(string TrainPath, int TrainExamples, string ValidationPath, int ValidationExamples);

/// <summary>
/// Splits a dataset's valid examples into training and validation JSONL files, deterministically from the seed.
/// Identical conversations always land on the same side (a duplicate never leaks into validation). Lines keep their
/// file order on each side; JSONL lines are written as they were, CSV rows as chat JSONL.
/// </summary>
public static class DatasetSplitter
{
    /// <summary>Loads <paramref name="path"/> and splits it (invalid lines are left out).</summary>
    public static SplitResult Split(string path, double fraction, int seed, string trainOut, string valOut,
        DatasetFormat format = DatasetFormat.Auto, CsvColumns? columns = null)
    {
        var full = Path.GetFullPath(path);
        if (Path.GetFullPath(trainOut) == full || Path.GetFullPath(valOut) == full)
            throw new OpenBookException($"{path}: the split must not overwrite the input file");
        return Split(TrainingData.Load(path, format, columns), fraction, seed, trainOut, valOut);
    }

    /// <summary>Splits already loaded examples.</summary>
    public static SplitResult Split(DatasetLoadResult data, double fraction, int seed, string trainOut, string valOut)
    {
        if (fraction is <= 0 or >= 1 || double.IsNaN(fraction)) throw new OpenBookException($"--split must be in (0, 1) (got {fraction})");
        var groups = data.Examples.GroupBy(e => e.ConversationKey(), StringComparer.Ordinal).Select(g => g.ToList()).ToList();
        new SplitMix64(0xDA7A_5B11_7000UL ^ (uint)seed).Shuffle(groups);
        int n = data.Examples.Count;
        int target = n < 2 ? 0 : Math.Max(1, (int)Math.Round(n * fraction));
        var validation = new HashSet<ChatExample>(ReferenceEqualityComparer.Instance);
        foreach (var g in groups)
        {
            if (validation.Count >= target) break;
            if (validation.Count + g.Count <= target) validation.UnionWith(g);
        }
        var train = data.Examples.Where(e => !validation.Contains(e)).ToList();
        var val = data.Examples.Where(validation.Contains).ToList();
        Write(trainOut, train);
        Write(valOut, val);
        return new SplitResult(trainOut, train.Count, valOut, val.Count);
    }

    private static void Write(string path, IReadOnlyList<ChatExample> examples)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        var temp = path + ".tmp";
        File.WriteAllLines(temp, examples.Select(e => e.Raw ?? ToChatJson(e)));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>An example as one OpenAI chat JSONL line.</summary>
    public static string ToChatJson(ChatExample example)
    {
        var messages = new JsonArray();
        foreach (var m in example.Messages)
        {
            var node = new JsonObject { ["role"] = m.Role.Value, ["content"] = m.Content };
            if (m.Weight != 1) node["weight"] = (int)m.Weight;
            messages.Add(node);
        }
        return new JsonObject { ["messages"] = messages }.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }
}
