using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Models.Architectures;
using OpenBook.Models.Chat;
using OpenBook.Models.FineTuning;
using OpenBook.Models.FineTuning.Lora;
using OpenBook.Models.Hub;
using OpenBook.OpenAI;

namespace OpenBook.Runtime;

/// <summary>How <see cref="ChatModels.Open"/> finds and loads a model.</summary>
public sealed record ChatModelOptions
{
    /// <summary>Hugging Face cache and endpoint (default: from HF_HOME / HF_ENDPOINT / HF_TOKEN).</summary>
    public HubOptions? Hub { get; init; }
    /// <summary>API key of a remote endpoint (default: OPENAI_API_KEY).</summary>
    public string? ApiKey { get; init; }
    /// <summary>Precision and threads of a local model.</summary>
    public ModelLoadOptions? Load { get; init; }
}

/// <summary>
/// A language model opened from a spec, with what OpenBook knows about how to prompt it: a LoRA adapter trained by
/// <c>openbook raft train</c> is prompted the RAFT way, every other model with the grounded prompt.
/// </summary>
public sealed class ChatModel : IDisposable
{
    internal ChatModel(IChatClient client, string spec, string? adapter, AdapterPromptFormat format)
    {
        Client = client;
        Spec = spec;
        Adapter = adapter;
        AdapterFormat = format;
    }

    /// <summary>The chat client (local engine or remote endpoint).</summary>
    public IChatClient Client { get; }
    /// <summary>The model spec it was opened from.</summary>
    public string Spec { get; }
    /// <summary>The LoRA adapter directory applied to it, if any.</summary>
    public string? Adapter { get; }
    /// <summary>The prompt format the adapter was trained with (<see cref="AdapterPromptFormat.Chat"/> without an adapter).</summary>
    public AdapterPromptFormat AdapterFormat { get; }
    /// <summary>The prompt answers use: RAFT for RAFT adapters, grounded otherwise.</summary>
    public AnswerPrompt Prompt => AdapterFormat == AdapterPromptFormat.Raft ? AnswerPrompt.Raft : AnswerPrompt.Grounded;
    /// <summary>"spec" or "spec + adapter DIR", for reports.</summary>
    public string Label => Adapter is null ? Spec : $"{Spec} + adapter {Adapter}";

    /// <summary>
    /// The answerer for <see cref="Book.AskAsync(string, AskOptions?, CancellationToken)"/>: <see cref="RaftAnswerer"/>
    /// for a RAFT adapter, <see cref="GroundedAnswerer"/> otherwise. Decoding is greedy unless <paramref name="chatOptions"/> says otherwise.
    /// </summary>
    public IAnswerer Answerer(int maxOutputTokens = 512, ChatOptions? chatOptions = null)
    {
        chatOptions ??= new ChatOptions { MaxOutputTokens = maxOutputTokens, Temperature = 0 };
        return Prompt == AnswerPrompt.Raft ? new RaftAnswerer(Client, chatOptions) : new GroundedAnswerer(Client, GroundedOptions(), chatOptions);
    }

    /// <summary>The local tokenizer's special tokens are removed from passages as well as the generic markers.</summary>
    private GroundedPromptOptions GroundedOptions() =>
        Client.GetService<LocalChatClient>() is { } local ? GroundedPromptOptions.WithMarkers(local.SpecialTokens) : new GroundedPromptOptions();

    /// <inheritdoc />
    public void Dispose() => Client.Dispose();
}

/// <summary>
/// Opens language models from the specs users type: a local Hugging Face model directory, a Hub id cached by
/// <c>openbook models pull</c>, or <c>openai:URL#name</c> (OpenAI, Azure OpenAI v1, Ollama, vLLM, llama.cpp server),
/// optionally with a LoRA adapter on a local model.
/// </summary>
public static class ChatModels
{
    /// <summary>
    /// Opens <paramref name="spec"/> with <paramref name="adapter"/> applied. Without a spec, the adapter's base model
    /// (its adapter_config.json) is used.
    /// </summary>
    public static ChatModel Open(string? spec, string? adapter = null, ChatModelOptions? options = null)
    {
        spec ??= adapter is not null ? AdapterBaseModel(adapter)
            : throw new OpenBookException("No language model given: name a model directory, a cached Hub id or openai:URL#name.");
        var format = adapter is null ? AdapterPromptFormat.Chat : AdapterInfo.Read(adapter).PromptFormat;
        return new ChatModel(CreateClient(spec, adapter, options), spec, adapter, format);
    }

    /// <summary>
    /// A chat client for a model spec: <c>openai:URL#model</c> → a remote client (key from the options or
    /// OPENAI_API_KEY); a directory or a cached Hub id (<c>org/name</c>) → the local engine, with the LoRA
    /// <paramref name="adapter"/> (PEFT format) applied when given.
    /// </summary>
    public static IChatClient CreateClient(string spec, string? adapter = null, ChatModelOptions? options = null)
    {
        if (spec.StartsWith("openai:", StringComparison.OrdinalIgnoreCase))
        {
            if (adapter is not null) throw new OpenBookException($"adapter {adapter}: a LoRA adapter needs a local model; a remote endpoint (openai:…) serves its own weights.");
            return RemoteChatClient.Create(RemoteModelOptions.Parse(spec, options?.ApiKey));
        }
        var dir = ModelLocator.Resolve(spec, options?.Hub ?? HubOptions.FromEnvironment());
        return LocalChatClient.Load(dir, options?.Load, adapter);
    }

    /// <summary>The base model named by an adapter's adapter_config.json.</summary>
    public static string AdapterBaseModel(string adapter)
    {
        var configPath = Path.Combine(adapter, LoraModel.ConfigFileName);
        if (!File.Exists(configPath)) throw new OpenBookException($"adapter {adapter}: {LoraModel.ConfigFileName} not found.");
        return LoraConfig.FromPeftJson(File.ReadAllText(configPath), configPath).BaseModel
               ?? throw new OpenBookException($"{configPath}: base_model_name_or_path is empty; name the base model.");
    }
}
