using System.Text;
using System.Text.Json;

namespace OpenBook.Ingestion;

/// <summary>
/// JSON (.json: one object or an array of objects) and JSON lines (.jsonl/.ndjson: one object per line), one
/// document per record, like raft.py's <c>json</c> doctype. The text comes from <see cref="JsonLoaderOptions.TextField"/>
/// (dotted paths allowed; a string or an array of strings, one paragraph each). <see cref="LoadedDocument.RecordKey"/>
/// is the id field's value or "line:N" / "index:N"; other scalar fields go to metadata. A bad record fails with its
/// line number (JSONL) or index (JSON array) and the field name.
/// </summary>
public sealed class JsonLoader : IDocumentLoader
{
    /// <inheritdoc />
    public IReadOnlyList<string> Extensions { get; } = [".json", ".jsonl", ".ndjson"];

    /// <inheritdoc />
    public IEnumerable<LoadedDocument> Load(string path, Stream content, LoaderOptions options)
    {
        var json = options.Json;
        bool lines = !Path.GetExtension(path).Equals(".json", StringComparison.OrdinalIgnoreCase);
        var skipped = options.RecordSkipped;
        return LoadErrors.Guard(path, "JSON", () => lines ? LoadLines(path, content, json, skipped) : LoadJson(path, content, json, skipped));
    }

    /// <summary>The record's document, or null when it is bad and <paramref name="skipped"/> takes it.</summary>
    private static LoadedDocument? Record(Func<LoadedDocument> make, Action<DocumentLoadException>? skipped)
    {
        try { return make(); }
        catch (DocumentLoadException e) when (skipped is not null)
        {
            skipped(e);
            return null;
        }
    }

    private static IEnumerable<LoadedDocument> LoadLines(string path, Stream content, JsonLoaderOptions options, Action<DocumentLoadException>? skipped)
    {
        using var reader = new StreamReader(content, Encoding.UTF8, true, 1 << 16, leaveOpen: true);
        int number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument record;
            try { record = JsonDocument.Parse(line); }
            catch (JsonException e)
            {
                var bad = new DocumentLoadException(path, number, $"invalid JSON ({e.Message})");
                if (skipped is null) throw bad;
                skipped(bad);
                continue;
            }
            LoadedDocument? doc;
            using (record) doc = Record(() => ToDocument(path, record.RootElement, $"line {number}", $"line:{number}", options), skipped);
            if (doc is not null) yield return doc;
        }
    }

    private static IEnumerable<LoadedDocument> LoadJson(string path, Stream content, JsonLoaderOptions options, Action<DocumentLoadException>? skipped)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(content, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } l ? $"line {l + 1}: " : "";
            throw new DocumentLoadException(path, $"{where}invalid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array)
            {
                int index = 0;
                foreach (var item in root.EnumerateArray())
                {
                    var i = index++;
                    if (Record(() => ToDocument(path, item, $"record {i}", $"index:{i}", options), skipped) is { } doc) yield return doc;
                }
            }
            else yield return ToDocument(path, root, "the top-level object", null, options);
        }
    }

    private static LoadedDocument ToDocument(string path, JsonElement record, string where, string? defaultKey, JsonLoaderOptions options)
    {
        if (record.ValueKind != JsonValueKind.Object)
            throw new DocumentLoadException(path, $"{where}: expected a JSON object, found {record.ValueKind}");
        if (!TryGetPath(record, options.TextField, out var textValue))
            throw new DocumentLoadException(path, $"{where}: field '{options.TextField}' is missing");
        var builder = new SectionBuilder();
        switch (textValue.ValueKind)
        {
            case JsonValueKind.String:
                builder.Paragraph(textValue.GetString()!);
                break;
            case JsonValueKind.Array when textValue.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String):
                foreach (var part in textValue.EnumerateArray()) builder.Paragraph(part.GetString()!);
                break;
            default:
                throw new DocumentLoadException(path, $"{where}: field '{options.TextField}' must be a string or an array of strings, found {textValue.ValueKind}");
        }

        string? key = defaultKey, title = null;
        if (options.IdField is { } idField)
            key = TryGetPath(record, idField, out var id) && Scalar(id) is { } idText
                ? idText
                : throw new DocumentLoadException(path, $"{where}: id field '{idField}' is missing or not a scalar");
        if (options.TitleField is { } titleField && TryGetPath(record, titleField, out var t)) title = Scalar(t);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (options.MetadataFields is null)
        {
            foreach (var property in record.EnumerateObject())
            {
                if (property.Name == options.TextField || property.Name == options.IdField || property.Name == options.TitleField) continue;
                if (Scalar(property.Value) is { } value) metadata[property.Name] = value;
            }
        }
        else
        {
            foreach (var field in options.MetadataFields)
                if (TryGetPath(record, field, out var value) && Scalar(value) is { } text) metadata[field] = text;
        }
        return new LoadedDocument(path, title, builder.Build()) { RecordKey = key, Metadata = metadata };
    }

    /// <summary>Follows a dotted path ("a.b.c") through nested objects.</summary>
    internal static bool TryGetPath(JsonElement element, string dottedPath, out JsonElement value)
    {
        value = element;
        if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(dottedPath, out value)) return true; // literal key with dots
        value = element;
        foreach (var part in dottedPath.Split('.'))
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(part, out value)) return false;
        }
        return true;
    }

    private static string? Scalar(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => null,
    };
}
