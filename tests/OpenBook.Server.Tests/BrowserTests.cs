using Microsoft.Playwright;

namespace OpenBook.Server.Tests;

/// <summary>
/// The web chat page in a real headless browser: Debian's chromium (installed by browser/install-chromium.sh when
/// missing) driven by Playwright. Fails — never skips — when the browser cannot be had.
/// </summary>
[Collection("server")]
public sealed class BrowserTests(ServerFixture f)
{
    /// <summary>Where the screenshot is written (under the test output directory).</summary>
    public static string ScreenshotPath => Path.Combine(AppContext.BaseDirectory, "artifacts", "web-chat.png");

    [Fact]
    public async Task Web_chat_streams_an_answer_with_citations_and_follows_up_on_Boston()
    {
        var browserPath = await SystemChromium();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = browserPath, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout(30_000);
        await page.GotoAsync(f.Url.ToString());

        await page.FillAsync("#api-key", f.Alice);
        await page.ClickAsync("#key-form button");
        await page.WaitForSelectorAsync("#model option[value='openbook-extractive']", new() { State = WaitForSelectorState.Attached });
        Assert.Contains("alice", await page.InnerTextAsync("#who"));

        await page.FillAsync("#question", ConversationTests.Berlin);
        await page.PressAsync("#question", "Enter");
        var first = page.Locator(".msg.assistant[data-done='true']").Nth(0);
        await first.WaitForAsync();
        Assert.True(await first.Locator(".body .cite").CountAsync() > 0, "the answer has no clickable [n] citation");
        Assert.True(await first.Locator(".sources .cite").CountAsync() > 0, "the answer lists no sources");

        await page.FillAsync("#question", "And in Boston?");
        await page.PressAsync("#question", "Enter");
        var second = page.Locator(".msg.assistant[data-done='true']").Nth(1);
        await second.WaitForAsync();
        Assert.Contains("Boston", await second.Locator(".rewrite").InnerTextAsync());

        // Clicking a source shows the passage with its source and heading path; one of them holds the Boston row.
        var sources = second.Locator(".sources .cite");
        var found = false;
        for (var i = 0; i < await sources.CountAsync() && !found; i++)
        {
            await sources.Nth(i).ClickAsync();
            found = (await page.InnerTextAsync("#passage-text")).Contains(ConversationTests.BostonRow);
        }
        Assert.True(found, "no citation of the follow-up shows the Boston row");
        Assert.Contains("vacation-policy.md", await page.InnerTextAsync("#passage-title"));

        // The conversation is listed and can be resumed.
        await page.WaitForSelectorAsync("#conversations li");
        Assert.Contains(ConversationTests.Berlin, await page.InnerTextAsync("#conversations"));

        Directory.CreateDirectory(Path.GetDirectoryName(ScreenshotPath)!);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath, FullPage = true });
        Assert.True(new FileInfo(ScreenshotPath).Length > 10_000, "screenshot is (nearly) empty");

        await page.ClickAsync("#new-chat");
        await page.ClickAsync("#conversations li >> nth=0");
        await page.Locator(".msg.user").Nth(1).WaitForAsync();
        Assert.Equal(2, await page.Locator(".msg.assistant").CountAsync());
    }

    /// <summary>The system chromium's path, installing it with apt-get when missing (browser/install-chromium.sh).</summary>
    private static async Task<string> SystemChromium()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "browser", "install-chromium.sh");
        var run = await OpenAiClientTests.RunAsync("/bin/bash", AppContext.BaseDirectory, script);
        var path = run.Out.Trim().Split('\n').LastOrDefault()?.Trim();
        if (run.Code != 0 || string.IsNullOrEmpty(path) || !File.Exists(path))
            throw new InvalidOperationException($"The browser test needs Debian's chromium and could not get it ({script} exited {run.Code}): {run.Err.Trim()}");
        return path;
    }
}
