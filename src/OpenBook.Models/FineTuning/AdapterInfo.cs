using System.Text.Json;
using System.Text.Json.Nodes;

namespace OpenBook.Models.FineTuning;

/// <summary>The prompt an adapter was trained with, so it is prompted the same way at inference.</summary>
public enum AdapterPromptFormat
{
    /// <summary>Ordinary chat examples (answered with the grounded prompt when retrieval is used).</summary>
    Chat,
    /// <summary>RAFT examples: documents in &lt;DOCUMENT&gt; tags, then the question; chain-of-thought answers with quotes.</summary>
    Raft,
}

/// <summary>
/// <c>openbook_adapter.json</c> beside a PEFT adapter: how the adapter was trained, so <c>ask --adapter</c> and
/// <c>eval</c> prompt it the same way (<c>"prompt_format": "raft"</c> or <c>"chat"</c>).
/// </summary>
public sealed record AdapterInfo(AdapterPromptFormat PromptFormat, string? BaseModel, string? Method)
{
    /// <summary>File name.</summary>
    public const string FileName = "openbook_adapter.json";

    /// <summary>Reads the file in <paramref name="adapterDirectory"/>, or returns the plain chat format when there is none.</summary>
    public static AdapterInfo Read(string adapterDirectory)
    {
        var path = Path.Combine(adapterDirectory, FileName);
        if (!File.Exists(path)) return new AdapterInfo(AdapterPromptFormat.Chat, null, null);
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var format = (string?)o["prompt_format"] ?? "chat";
            return new AdapterInfo(format switch
            {
                "chat" => AdapterPromptFormat.Chat,
                "raft" => AdapterPromptFormat.Raft,
                _ => throw new OpenBookException($"{path}: prompt_format: unknown value \"{format}\" (expected \"chat\" or \"raft\")."),
            }, (string?)o["base_model"], (string?)o["method"]);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new OpenBookException($"{path}: invalid ({e.Message}).");
        }
    }

    /// <summary>Writes the file into <paramref name="adapterDirectory"/>.</summary>
    public void Write(string adapterDirectory)
    {
        var o = new JsonObject
        {
            ["prompt_format"] = PromptFormat == AdapterPromptFormat.Raft ? "raft" : "chat", ["base_model"] = BaseModel, ["method"] = Method,
        };
        File.WriteAllText(Path.Combine(adapterDirectory, FileName), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
