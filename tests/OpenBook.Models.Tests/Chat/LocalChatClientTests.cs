using System.Text;
using Microsoft.Extensions.AI;
using OpenBook.Models.Architectures;
using OpenBook.Models.Chat;
using OpenBook.Models.Formats;
using OpenBook.Models.Formats.ChatTemplates;
using OpenBook.Models.Formats.Tokenization;
using OpenBook.Models.Generation;
using OpenBook.Models.Tests.Tokenization;

namespace OpenBook.Models.Tests.Chat;

/// <summary>The local IChatClient on a tiny random-weight Llama sized for the fixture SmolLM2-style tokenizer.</summary>
public class LocalChatClientTests
{
    private static readonly Lazy<HfTokenizer> Tok = new(() => HfTokenizer.FromDirectory(Fixtures.Tokenizer("smollm2")));

    private static readonly Lazy<ICausalLM> Model = new(() => ModelLoader.Create(new ModelConfig
    {
        Architecture = "LlamaForCausalLM", HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2, HeadDim = 8, VocabSize = 2048, TieWordEmbeddings = true, MaxPositionEmbeddings = 512,
    }, new RandomWeightSource(11)));

    private static LocalChatClient Client(int maxTokens = 12) => new(Model.Value, Tok.Value, GenerationOptions.Greedy(maxTokens), "tiny-random");

    private static readonly ChatMessage[] Question = [new(ChatRole.User, "When does the canteen open?")];

    [Fact]
    public async Task Greedy_reply_is_the_generators_output_on_the_templated_prompt()
    {
        using var client = Client();
        var prompt = ChatTemplate.ApplyAndEncode(Tok.Value, Question);
        Assert.Equal(prompt, client.EncodePrompt(Question));
        var expected = new TextGenerator(Model.Value, ids => Tok.Value.Decode(ids, true))
            .Generate(prompt, GenerationOptions.Greedy(12) with { StopTokenIds = [2] });

        Assert.NotEmpty(expected.Tokens);
        Assert.NotEqual("", expected.Text);
        var a = await client.GetResponseAsync(Question);
        var b = await client.GetResponseAsync(Question);
        Assert.Equal(expected.Text, a.Text);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(prompt.Length, a.Usage!.InputTokenCount);
        Assert.Equal(expected.Tokens.Count, a.Usage.OutputTokenCount);
        Assert.Equal("tiny-random", a.ModelId);
    }

    [Fact]
    public async Task Streaming_updates_concatenate_to_the_full_reply()
    {
        using var client = Client(16);
        var full = await client.GetResponseAsync(Question);
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var u in client.GetStreamingResponseAsync(Question))
        {
            text.Append(u.Text);
            finish = u.FinishReason ?? finish;
        }
        Assert.Equal(full.Text, text.ToString());
        Assert.Equal(full.FinishReason, finish);
    }

    [Fact]
    public async Task Chat_options_map_to_generation_options()
    {
        using var client = Client();
        var g = client.Options(new ChatOptions { MaxOutputTokens = 5, Temperature = 0.7f, TopP = 0.9f, TopK = 40, Seed = 3, StopSequences = ["\n\n"] });
        Assert.Equal((5, true, 0.7f, 0.9f, 40, 3), (g.MaxNewTokens, g.DoSample, g.Temperature, g.TopP, g.TopK, g.Seed!.Value));
        Assert.Equal(["\n\n"], g.StopStrings);
        Assert.Contains(2, g.StopTokenIds); // <|im_end|> from tokenizer_config.json
        Assert.False(client.Options(new ChatOptions { Temperature = 0 }).DoSample);

        var opts = new ChatOptions { MaxOutputTokens = 8, Temperature = 1.2f, Seed = 5 };
        Assert.Equal((await client.GetResponseAsync(Question, opts)).Text, (await client.GetResponseAsync(Question, opts)).Text);
        Assert.True((await client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 3 })).Usage!.OutputTokenCount <= 3);
    }

    [Fact]
    public async Task Cancellation_stops_generation()
    {
        using var client = Client(200);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.GetResponseAsync(Question, cancellationToken: cts.Token));
    }

    /// <summary>
    /// The user's path: a complete HF model directory (the engine's Llama/Qwen2/Mistral fixtures with vocab 512 plus
    /// the project-trained 512-id tokenizer of the same family) loaded by <see cref="ChatClients.Create"/>.
    /// </summary>
    [Theory]
    [InlineData("llama-tied", "llama3-512")]
    [InlineData("qwen2-bf16", "qwen2-512")]
    [InlineData("mistral", "sentencepiece-512")]
    public async Task Model_directory_with_tokenizer_loads_and_chats(string model, string tokenizer)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ob-local-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var f in Directory.EnumerateFiles(Path.Combine(Fixtures.Root, model)).Concat(Directory.EnumerateFiles(Fixtures.Tokenizer(tokenizer))))
                if (!f.EndsWith("expected.json", StringComparison.Ordinal) && !f.EndsWith("reference.json", StringComparison.Ordinal))
                    File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            using var client = OpenBook.Runtime.ChatModels.CreateClient(dir);
            var options = new ChatOptions { MaxOutputTokens = 6, Temperature = 0 }; // the fixtures' generation_config.json samples
            var a = await client.GetResponseAsync(Question, options);
            var b = await client.GetResponseAsync(Question, options);
            Assert.Equal(a.Text, b.Text);
            Assert.InRange(a.Usage!.OutputTokenCount!.Value, 1, 6);
            Assert.Equal(Path.GetFileName(dir), a.ModelId);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Metadata_and_base_model_errors()
    {
        using var client = Client();
        Assert.Equal("tiny-random", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        var noTemplate = HfTokenizer.FromDirectory(Fixtures.Tokenizer("gpt2"));
        var ex = Assert.Throws<OpenBookException>(() => new LocalChatClient(Model.Value, noTemplate, GenerationOptions.Greedy(), "base"));
        Assert.Contains("chat_template", ex.Message);
    }
}
