using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using OpenBook.Answering;
using OpenBook.Runtime;

namespace OpenBook.Server;

/// <summary>A model name the API serves, and who answers under it (null answerer: extractive, no model).</summary>
/// <param name="Id">The name clients pass as <c>model</c>.</param>
/// <param name="Answerer">The answerer, or null for extractive answers.</param>
/// <param name="Description">What it is (the model spec and adapter).</param>
public sealed record ServedModel(string Id, IAnswerer? Answerer, string Description);

/// <summary>
/// The answerers the server offers: <c>openbook-extractive</c> always, <c>openbook-rag</c> with <c>--model</c>, and one
/// per adapter (<c>openbook-raft-NAME</c> for RAFT adapters, <c>openbook-ft-NAME</c> otherwise). A local model runs
/// one request at a time (the engine is not re-entrant); requests wait their turn.
/// </summary>
public sealed class ServedModels : IDisposable
{
    /// <summary>The model that answers without a language model.</summary>
    public const string Extractive = "openbook-extractive";
    /// <summary>The configured language model with the grounded prompt.</summary>
    public const string Rag = "openbook-rag";

    private readonly List<ChatModel> _opened = [];
    private readonly Dictionary<string, ServedModel> _byId = new(StringComparer.Ordinal);

    /// <summary>Opens the models of <paramref name="options"/>.</summary>
    public ServedModels(ServerOptions options)
    {
        Add(new ServedModel(Extractive, null, "extractive: sentences quoted from the retrieved passages, no language model"));
        try
        {
            if (options.Model is { } spec)
            {
                var model = Open(spec, null);
                var gate = new SemaphoreSlim(1, 1);
                Add(new ServedModel(Rag, new GatedAnswerer(model.Answerer(options.MaxTokens), gate), $"grounded RAG with {model.Label}"));
                Rewriter = new GatedChatClient(model.Client, gate);
            }
            foreach (var adapter in options.Adapters)
            {
                var model = Open(options.Model, adapter);
                var name = (model.Prompt == AnswerPrompt.Raft ? "openbook-raft-" : "openbook-ft-") + Slug(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(adapter))));
                if (_byId.ContainsKey(name)) throw new OpenBookException($"adapter {adapter}: another adapter is already served as {name}; rename one directory.");
                Add(new ServedModel(name, new GatedAnswerer(model.Answerer(options.MaxTokens), new SemaphoreSlim(1, 1)), model.Label));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Default = options.Model is not null ? _byId[Rag] : _byId[Extractive];
    }

    /// <summary>Every served model, extractive first.</summary>
    public IReadOnlyList<ServedModel> All => [.. _byId.Values];

    /// <summary>The model used when a request names none: <c>openbook-rag</c> when a model is configured, else extractive.</summary>
    public ServedModel Default { get; }

    /// <summary>The client that rewrites follow-ups (the configured model), or null (the deterministic rule).</summary>
    public IChatClient? Rewriter { get; }

    /// <summary>The model named <paramref name="id"/> (null or empty: the default), or null when none has that name.</summary>
    public ServedModel? Find(string? id) => string.IsNullOrEmpty(id) ? Default : _byId.GetValueOrDefault(id);

    private ChatModel Open(string? spec, string? adapter)
    {
        var model = ChatModels.Open(spec, adapter);
        _opened.Add(model);
        return model;
    }

    private void Add(ServedModel m) => _byId.Add(m.Id, m);

    private static string Slug(string name)
    {
        var s = new string(name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray()).Trim('-');
        return s.Length == 0 ? "adapter" : s;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var m in _opened) m.Dispose();
        _opened.Clear();
    }

    /// <summary>An answerer that holds <paramref name="gate"/> while it answers.</summary>
    private sealed class GatedAnswerer(IAnswerer inner, SemaphoreSlim gate) : IAnswerer
    {
        public AnswerPrompt Prompt => inner.Prompt;

        public async Task<Answer> AnswerAsync(AnswerRequest request, CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { return await inner.AnswerAsync(request, cancellationToken).ConfigureAwait(false); }
            finally { gate.Release(); }
        }

        public async IAsyncEnumerable<AnswerUpdate> StreamAsync(AnswerRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await foreach (var u in inner.StreamAsync(request, cancellationToken).ConfigureAwait(false)) yield return u;
            }
            finally { gate.Release(); }
        }
    }

    /// <summary>A chat client that holds <paramref name="gate"/> while it answers (shares the gate of the answerer on the same model).</summary>
    private sealed class GatedChatClient(IChatClient inner, SemaphoreSlim gate) : DelegatingChatClient(inner)
    {
        public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false); }
            finally { gate.Release(); }
        }

        public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await foreach (var u in base.GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false)) yield return u;
            }
            finally { gate.Release(); }
        }

        // The underlying client is owned (and disposed) by its ChatModel.
        protected override void Dispose(bool disposing) { }
    }
}
