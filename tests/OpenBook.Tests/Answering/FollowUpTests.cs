using Microsoft.Extensions.AI;
using OpenBook.Answering;

namespace OpenBook.Tests.Answering;

public class FollowUpTests
{
    private static List<ChatMessage> History(params string[] turns) =>
        turns.Select((t, i) => new ChatMessage(i % 2 == 0 ? ChatRole.User : ChatRole.Assistant, t)).ToList();

    [Theory]
    [InlineData("What is the annual vacation entitlement in Berlin?", "And in Boston?", "What is the annual vacation entitlement in Boston?")]
    [InlineData("How much paid annual leave does a full-time employee on a Berlin contract receive each year?", "And Boston?",
        "How much paid annual leave does a full-time employee on a Boston contract receive each year?")]
    [InlineData("How many vacation days can I carry over in Berlin?", "What about Singapore?", "How many vacation days can I carry over in Singapore?")]
    [InlineData("How do I reset my VPN password?", "and the laptop?", "How do I reset my VPN password laptop?")]
    public void The_rule_puts_the_follow_ups_terms_in_place_of_the_previous_subject(string previous, string followUp, string expected) =>
        Assert.Equal(expected, FollowUp.RewriteByRule(followUp, previous));

    [Theory]
    [InlineData("And in Boston?", true)]
    [InlineData("What about Lisbon?", true)]
    [InlineData("Boston?", true)]
    [InlineData("How many sick days do employees in Lisbon get per year?", false)]
    [InlineData("Who approves travel expenses above 500 euros?", false)]
    public void Follow_ups_are_recognised(string question, bool expected) => Assert.Equal(expected, FollowUp.LooksLikeFollowUp(question));

    [Fact]
    public async Task Without_history_or_for_a_standalone_question_nothing_is_rewritten()
    {
        Assert.Equal(new FollowUpQuery("And in Boston?", "none"), await FollowUp.RewriteAsync("And in Boston?", []));
        var standalone = "How many sick days do employees in Lisbon get per year?";
        Assert.Equal("none", (await FollowUp.RewriteAsync(standalone, History("What is the annual vacation entitlement in Berlin?", "30 days"))).Method);
    }

    [Fact]
    public async Task Chained_follow_ups_rewrite_against_the_previous_standalone_query()
    {
        var q = await FollowUp.RewriteAsync("What about Lisbon?", History("What is the annual vacation entitlement in Berlin?", "30 days", "And in Boston?", "20 days"));
        Assert.Equal(new FollowUpQuery("What is the annual vacation entitlement in Lisbon?", "rule"), q);
    }

    [Fact]
    public async Task A_model_rewrite_is_used_when_it_keeps_the_new_terms_else_the_rule()
    {
        var history = History("What is the annual vacation entitlement in Berlin?", "30 days");
        var good = new FixedChatClient("Standalone question: \"How many vacation days do Boston employees get per year?\"");
        Assert.Equal(new FollowUpQuery("How many vacation days do Boston employees get per year?", "model"), await FollowUp.RewriteAsync("And in Boston?", history, good));
        Assert.Contains("Follow-up: And in Boston?", good.LastPrompt);
        Assert.Contains("User: What is the annual vacation entitlement in Berlin?", good.LastPrompt);

        var garbage = new FixedChatClient("zq zq zq");
        Assert.Equal(new FollowUpQuery("What is the annual vacation entitlement in Boston?", "rule"), await FollowUp.RewriteAsync("And in Boston?", history, garbage));
        var empty = new FixedChatClient("");
        Assert.Equal("rule", (await FollowUp.RewriteAsync("And in Boston?", history, empty)).Method);
    }

    private sealed class FixedChatClient(string reply) : IChatClient
    {
        public string LastPrompt { get; private set; } = "";

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            LastPrompt = string.Join("\n", messages.Select(m => m.Text));
            return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, reply)));
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }
}
