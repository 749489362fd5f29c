using Microsoft.Extensions.AI;
using OpenBook.Models.Architectures;
using OpenBook.Models.Hub;

namespace OpenBook.Models.Chat;

/// <summary>One entry point for <c>--model ID|DIR|openai:URL#name</c>.</summary>
public static class ChatClients
{
    /// <summary>
    /// A chat client for a model spec: <c>openai:URL#model</c> → <see cref="RemoteChatClient"/> (key from
    /// <paramref name="apiKey"/> or OPENAI_API_KEY); a directory or a cached Hub id (<c>org/name</c>) →
    /// <see cref="LocalChatClient"/>.
    /// <paramref name="adapter"/> is a LoRA adapter directory (PEFT format) applied to a local model.
    /// </summary>
    public static IChatClient Create(string modelSpec, HubOptions? hub = null, string? apiKey = null, ModelLoadOptions? load = null, string? adapter = null)
    {
        if (modelSpec.StartsWith("openai:", StringComparison.OrdinalIgnoreCase))
        {
            if (adapter is not null) throw new OpenBookException("--adapter needs a local model: a remote endpoint (openai:…) serves its own weights.");
            return RemoteChatClient.Create(RemoteModelOptions.Parse(modelSpec, apiKey));
        }
        var dir = ModelLocator.Resolve(modelSpec, hub ?? HubOptions.FromEnvironment());
        return LocalChatClient.Load(dir, load, adapter);
    }
}
