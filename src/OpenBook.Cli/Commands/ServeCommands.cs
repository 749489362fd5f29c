using System.CommandLine;
using System.Globalization;
using OpenBook.Server;
using OpenBook.Storage;
using Spectre.Console;

namespace OpenBook.Cli.Commands;

/// <summary><c>serve</c> (the chat server, OpenBook.Server) and <c>keys add|list|revoke</c> (its API keys).</summary>
internal static class ServeCommands
{
    public static Command Serve()
    {
        var urls = new Option<string?>("--urls") { Description = "Where to listen, ';'-separated (default http://127.0.0.1:5170: this machine only)" };
        var model = new Option<string?>("--model") { Description = "Language model for openbook-rag and for rewriting follow-ups (default: extractive answers only)" };
        var adapters = new Option<string[]>("--adapter") { Description = "LoRA adapter directory served as openbook-raft-NAME / openbook-ft-NAME (repeatable)", AllowMultipleArgumentsPerToken = true };
        var embed = EmbeddingCli.Embed;
        var config = new Option<string?>("--config") { Description = "JSON file with server options (flags and OPENBOOK_SERVE_* variables override it)" };
        var rate = new Option<int?>("--rate-limit") { Description = "Requests per API key per minute (0: unlimited; default 120)" };
        var cors = new Option<string[]>("--cors-origin") { Description = "Allow browser calls from this origin (repeatable; default: CORS off)", AllowMultipleArgumentsPerToken = true };
        var k = new Option<int?>("-k", "--top") { Description = "Passages retrieved per question (default 5)" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Longest model answer, in tokens (default 512)" };
        var logFormat = new Option<string?>("--log-format") { Description = "text (default) or json (one JSON object per log line)" };
        var cmd = new Command("serve", "Serve the store as a chat server: OpenAI-compatible API, native API, web chat page (open http://127.0.0.1:5170)")
        {
            urls, model, adapters, embed, config, rate, cors, k, maxTokens, logFormat,
        };
        Cli.SetHandler(cmd, async (r, ct) =>
        {
            var o = ServerOptions.Load(r.GetValue(config));
            o = o with
            {
                // --store (or $OPENBOOK_STORE) unless the file or OPENBOOK_SERVE_STORE named one and --store was not typed.
                Store = r.GetResult(Cli.Store) is { Implicit: false } || o.Store == new ServerOptions().Store ? r.GetValue(Cli.Store)! : o.Store,
                Urls = r.GetValue(urls) ?? o.Urls,
                Model = r.GetValue(model) ?? o.Model,
                Adapters = CoreCommands.Split(r.GetValue(adapters)) ?? o.Adapters,
                Embed = r.GetValue(embed) ?? o.Embed,
                RateLimitPerMinute = r.GetValue(rate) ?? o.RateLimitPerMinute,
                CorsOrigins = CoreCommands.Split(r.GetValue(cors)) ?? o.CorsOrigins,
                K = r.GetValue(k) ?? o.K,
                MaxTokens = r.GetValue(maxTokens) ?? o.MaxTokens,
                LogFormat = r.GetValue(logFormat) ?? o.LogFormat,
            };
            if (!File.Exists(Path.Combine(o.Store, DocumentStore.DatabaseFileName))) throw new OpenBookException($"no OpenBook store at {o.Store} (ingest documents first: openbook ingest PATH --store {o.Store})");
            await using var server = await OpenBookServer.StartAsync(o, ct);
            foreach (var w in server.Warnings) Cli.ErrConsole.MarkupLine($"[yellow]{Cli.Safe(w)}[/]");
            int keys;
            using (var store = DocumentStore.Open(o.Store)) keys = new ApiKeyStore(store).List().Count(x => x.RevokedAt is null);
            Cli.ErrConsole.MarkupLine($"OpenBook serving [bold]{Markup.Escape(Path.GetFullPath(o.Store))}[/] on [bold]{Markup.Escape(string.Join(", ", server.Urls))}[/] " +
                                      $"(models: {Markup.Escape(string.Join(", ", server.Models.Select(m => m.Id)))}; {keys} API keys). Ctrl+C stops.");
            if (keys == 0) Cli.ErrConsole.MarkupLine("[yellow]No API keys yet: create one with `openbook keys add NAME --groups hr,it` (every request needs one).[/]");
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new ServingJson(server.Urls, server.Models.Select(m => m.Id).ToList()));
            try { await server.WaitForShutdownAsync(ct); }
            catch (OperationCanceledException) { }
            return 0;
        });
        return cmd;
    }

    public static Command Keys()
    {
        var keys = new Command("keys", "API keys of the chat server (only their SHA-256 hashes are stored)");
        var name = new Argument<string>("name") { Description = "A name for the key (who or what uses it)" };
        var groups = new Option<string[]>("--groups") { Description = "ACL groups the key reads as (comma-separated; none: public documents only)", AllowMultipleArgumentsPerToken = true };
        var admin = new Option<bool>("--admin") { Description = "Allow uploading and removing documents" };
        var add = new Command("add", "Create a key (printed once: store it now)") { name, groups, admin };
        Cli.SetHandler(add, (r, ct) =>
        {
            using var store = OpenStore(r);
            var (record, key) = new ApiKeyStore(store).Add(r.GetValue(name)!, CoreCommands.Split(r.GetValue(groups)), r.GetValue(admin));
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new NewKeyJson(key, record.Name, record.Groups, record.Scopes));
            else
            {
                Cli.ErrConsole.MarkupLine($"Key [bold]{Cli.Safe(record.Name)}[/] ({Markup.Escape(record.Access.ToString())}{(record.IsAdmin ? ", admin" : "")}). It is shown once; only its hash is stored:");
                Console.Out.WriteLine(key);
            }
            return Task.FromResult(0);
        });
        var list = new Command("list", "List keys (names, prefixes, groups; never the keys)");
        Cli.SetHandler(list, (r, ct) =>
        {
            using var store = OpenStore(r);
            var all = new ApiKeyStore(store).List();
            if (r.GetValue(Cli.Json))
            {
                Cli.WriteJson(new KeyListJson(all.Select(x => new KeyJson(x.Id, x.Name, x.Prefix, x.Groups, x.Scopes, x.CreatedAt, x.RevokedAt)).ToList()));
                return Task.FromResult(0);
            }
            var t = new Table().AddColumns("id", "name", "prefix", "groups", "scopes", "created", "revoked");
            foreach (var x in all)
                t.AddRow(x.Id.ToString(CultureInfo.InvariantCulture), Cli.Safe(x.Name), Cli.Safe(x.Prefix) + "…", Cli.Safe(string.Join(",", x.Groups)), Cli.Safe(string.Join(",", x.Scopes)),
                    x.CreatedAt.ToString("u", CultureInfo.InvariantCulture), x.RevokedAt?.ToString("u", CultureInfo.InvariantCulture) ?? "-");
            Cli.Out(r).Write(t);
            return Task.FromResult(0);
        });
        var which = new Argument<string>("key") { Description = "The key's name or id" };
        var revoke = new Command("revoke", "Revoke a key (requests with it get 401 from then on)") { which };
        Cli.SetHandler(revoke, (r, ct) =>
        {
            using var store = OpenStore(r);
            var target = r.GetValue(which)!;
            if (!new ApiKeyStore(store).Revoke(target)) throw new OpenBookException($"no valid key named '{target}' (see `openbook keys list`).");
            if (r.GetValue(Cli.Json)) Cli.WriteJson(new RevokedKeyJson(target));
            else Cli.Out(r).MarkupLine($"Revoked [bold]{Cli.Safe(target)}[/].");
            return Task.FromResult(0);
        });
        keys.Subcommands.Add(add);
        keys.Subcommands.Add(list);
        keys.Subcommands.Add(revoke);
        return keys;
    }

    private static DocumentStore OpenStore(ParseResult r)
    {
        var dir = r.GetValue(Cli.Store)!;
        if (!File.Exists(Path.Combine(dir, DocumentStore.DatabaseFileName))) throw new OpenBookException($"no OpenBook store at {dir}");
        return DocumentStore.Open(dir);
    }
}

/// <summary><c>serve --json</c>: where it listens and what it serves (printed once it is listening).</summary>
internal sealed record ServingJson(IReadOnlyList<string> Urls, IReadOnlyList<string> Models);

/// <summary><c>keys add --json</c>: the key (shown once) and what it may do.</summary>
internal sealed record NewKeyJson(string Key, string Name, IReadOnlyList<string> Groups, IReadOnlyList<string> Scopes);

/// <summary>A key in <c>keys list --json</c> (never the key itself).</summary>
internal sealed record KeyJson(long Id, string Name, string Prefix, IReadOnlyList<string> Groups, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary><c>keys list --json</c>.</summary>
internal sealed record KeyListJson(IReadOnlyList<KeyJson> Keys);

/// <summary><c>keys revoke --json</c>.</summary>
internal sealed record RevokedKeyJson(string Revoked);
