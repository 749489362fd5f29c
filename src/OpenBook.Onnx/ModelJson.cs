using System.Text.Json;

namespace OpenBook.Onnx;

/// <summary>Reads the JSON files of a model directory with errors that name the file and the field.</summary>
internal static class ModelJson
{
    public static JsonElement? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        return Read(path);
    }

    public static JsonElement Read(string path)
    {
        if (!File.Exists(path)) throw new OpenBookException($"Model file missing: '{path}'.");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new OpenBookException($"'{path}' is not valid JSON (line {ex.LineNumber + 1}): {ex.Message}", ex);
        }
    }

    public static JsonElement? Field(JsonElement? obj, string name) =>
        obj is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static bool? Bool(JsonElement? obj, string name, string file)
    {
        var v = Field(obj, name);
        if (v is null) return null;
        return v.Value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new OpenBookException($"'{file}': field '{name}' must be true or false, found {v.Value.ValueKind}."),
        };
    }

    public static int? Int(JsonElement? obj, string name, string file)
    {
        var v = Field(obj, name);
        if (v is null) return null;
        if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetInt64(out var n))
            return (int)Math.Clamp(n, int.MinValue, int.MaxValue);
        if (v.Value.ValueKind == JsonValueKind.Number) return int.MaxValue; // e.g. HF's 1e30 "no limit"
        throw new OpenBookException($"'{file}': field '{name}' must be an integer, found {v.Value.ValueKind}.");
    }

    public static string? String(JsonElement? obj, string name, string file)
    {
        var v = Field(obj, name);
        if (v is null) return null;
        return v.Value.ValueKind switch
        {
            JsonValueKind.String => v.Value.GetString(),
            // tokenizer_config.json may write special tokens as AddedToken objects: {"content": "[CLS]", ...}
            JsonValueKind.Object when v.Value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new OpenBookException($"'{file}': field '{name}' must be a string, found {v.Value.ValueKind}."),
        };
    }
}
