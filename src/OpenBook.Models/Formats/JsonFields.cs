using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenBook.Models.Formats;

/// <summary>
/// Typed, range-checked reads of the fields of a JSON object from a model file (config.json,
/// generation_config.json, trainer_state.json, a safetensors header). Model files are untrusted input: every
/// wrong type or out-of-range value is one <see cref="OpenBookException"/> naming the file and the field.
/// </summary>
public sealed class JsonFields(JsonObject obj, string source, string prefix = "")
{
    /// <summary>The object read.</summary>
    public JsonObject Object { get; } = obj;

    /// <summary>The file named in errors.</summary>
    public string Source { get; } = source;

    private string Name(string key) => prefix + key;

    /// <summary>An error naming the file and the field.</summary>
    public OpenBookException Error(string key, string problem) =>
        new(problem == "is missing" ? $"{Source}: missing required field '{Name(key)}'." : $"{Source}: field '{Name(key)}' {problem}.");

    private static string Show(JsonNode? n)
    {
        var s = n?.ToJsonString() ?? "null";
        return s.Length > 60 ? s[..60] + "…" : s;
    }

    /// <summary>True when the key is present and not null.</summary>
    public bool Has(string key) => Object[key] is not null;

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>]; <paramref name="fallback"/> when absent (null: required).</summary>
    public long Long(string key, long? fallback, long min = long.MinValue, long max = long.MaxValue)
    {
        var node = Object[key];
        if (node is null) return fallback ?? throw Error(key, "is missing");
        return CheckLong(key, node, min, max);
    }

    private long CheckLong(string key, JsonNode node, long min, long max)
    {
        if (node.GetValueKind() != JsonValueKind.Number) throw Error(key, $"must be an integer, found {Show(node)}");
        var raw = node.ToJsonString();
        if (!long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
        {
            // 12.0 is an integer too; 12.5 or 1e400 is not.
            if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d != Math.Floor(d) || Math.Abs(d) > 9e15)
                throw Error(key, $"must be an integer, found {raw}");
            v = (long)d;
        }
        if (v < min || v > max) throw Error(key, $"must be {Range(min, max)}, found {v}");
        return v;
    }

    private static string Range(long min, long max) =>
        max == long.MaxValue || max == int.MaxValue ? $"at least {min}" : min == long.MinValue ? $"at most {max}" : $"between {min} and {max}";

    /// <summary>An int in [<paramref name="min"/>, <paramref name="max"/>]; <paramref name="fallback"/> when absent (null: required).</summary>
    public int Int(string key, int? fallback, int min = int.MinValue, int max = int.MaxValue) => (int)Long(key, fallback, min, max);

    /// <summary>An optional int (absent or null: null).</summary>
    public int? OptionalInt(string key, int min = int.MinValue, int max = int.MaxValue) => Has(key) ? Int(key, null, min, max) : null;

    /// <summary>
    /// A finite number; <paramref name="positive"/> requires &gt; 0. Range bounds are inclusive. NaN and infinities
    /// (which System.Text.Json can be told to read) are refused.
    /// </summary>
    public double Number(string key, double? fallback, double min = double.MinValue, double max = double.MaxValue, bool positive = false)
    {
        var node = Object[key];
        if (node is null) return fallback ?? throw Error(key, "is missing");
        double v;
        if (node.GetValueKind() == JsonValueKind.Number) v = node.GetValue<double>();
        else if (node.GetValueKind() == JsonValueKind.String && node.GetValue<string>() is "NaN" or "Infinity" or "-Infinity") v = double.NaN;
        else throw Error(key, $"must be a number, found {Show(node)}");
        if (!double.IsFinite(v)) throw Error(key, $"must be a finite number, found {Show(node)}");
        if (positive && v <= 0) throw Error(key, $"must be greater than 0, found {v.ToString(CultureInfo.InvariantCulture)}");
        if (v < min || v > max) throw Error(key, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, found {v.ToString(CultureInfo.InvariantCulture)}");
        return v;
    }

    /// <summary>An optional finite number.</summary>
    public double? OptionalNumber(string key, double min = double.MinValue, double max = double.MaxValue, bool positive = false) =>
        Has(key) ? Number(key, null, min, max, positive) : null;

    /// <summary>A boolean (true/false only: "yes" or 1 are refused).</summary>
    public bool Bool(string key, bool fallback) => OptionalBool(key) ?? fallback;

    /// <summary>An optional boolean.</summary>
    public bool? OptionalBool(string key)
    {
        var node = Object[key];
        if (node is null) return null;
        return node.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(key, $"must be true or false, found {Show(node)}"),
        };
    }

    /// <summary>A string, or <paramref name="fallback"/> when absent.</summary>
    public string? String(string key, string? fallback = null)
    {
        var node = Object[key];
        if (node is null) return fallback;
        if (node.GetValueKind() != JsonValueKind.String) throw Error(key, $"must be a string, found {Show(node)}");
        return node.GetValue<string>();
    }

    /// <summary>An array of strings (absent: empty).</summary>
    public IReadOnlyList<string> Strings(string key)
    {
        var node = Object[key];
        if (node is null) return [];
        if (node is not JsonArray a) throw Error(key, $"must be a list of strings, found {Show(node)}");
        for (int i = 0; i < a.Count; i++)
            if (a[i] is not { } x || x.GetValueKind() != JsonValueKind.String) throw Error($"{key}[{i}]", $"must be a string, found {Show(a[i])}");
        return a.Select(x => x!.GetValue<string>()).ToArray();
    }

    /// <summary>Token ids: one integer or a list of them, each in [0, <paramref name="max"/>] (absent or null: empty).</summary>
    public IReadOnlyList<int> Ids(string key, int max = int.MaxValue)
    {
        var node = Object[key];
        if (node is null) return [];
        if (node is JsonArray a)
        {
            var ids = new int[a.Count];
            for (int i = 0; i < a.Count; i++)
            {
                if (a[i] is null) throw Error($"{key}[{i}]", "must be a token id, found null");
                ids[i] = (int)CheckLong($"{key}[{i}]", a[i]!, 0, max);
            }
            return ids;
        }
        return [(int)CheckLong(key, node, 0, max)];
    }

    /// <summary>A nested object's fields (absent or null: null).</summary>
    public JsonFields? Child(string key)
    {
        var node = Object[key];
        if (node is null) return null;
        if (node is not JsonObject o) throw Error(key, $"must be an object, found {Show(node)}");
        return new JsonFields(o, Source, Name(key) + ".");
    }

    /// <summary>Reads a JSON object file; invalid JSON or a non-object names the file and line.</summary>
    public static JsonFields Load(string file, long maxBytes = 64L << 20)
    {
        var length = new FileInfo(file).Length;
        if (length > maxBytes) throw new OpenBookException($"{file}: {length} bytes is too large for this file (limit {maxBytes >> 20} MiB).");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(file), documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
            return new JsonFields(node as JsonObject ?? throw new OpenBookException($"{file}: expected a JSON object."), file);
        }
        catch (JsonException e)
        {
            throw new OpenBookException($"{file}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
    }
}
