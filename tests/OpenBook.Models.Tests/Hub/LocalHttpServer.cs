using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace OpenBook.Models.Tests.Hub;

/// <summary>An HttpListener on a free 127.0.0.1 port that hands each request to <see cref="Handle"/>.</summary>
internal abstract class LocalHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    protected LocalHttpServer()
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            try
            {
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
                _listener.Start();
                Endpoint = $"http://127.0.0.1:{port}";
                break;
            }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _loop = Task.Run(async () =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    try { await Handle(ctx); }
                    catch (Exception) { try { ctx.Response.Abort(); } catch (Exception) { /* client went away */ } }
                });
            }
        });
    }

    /// <summary>http://127.0.0.1:PORT</summary>
    public string Endpoint { get; }

    /// <summary>Request lines seen ("METHOD /path [Range]").</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    protected abstract Task Handle(HttpListenerContext ctx);

    protected static void Send(HttpListenerResponse resp, int status, byte[] body, string contentType = "application/json")
    {
        resp.StatusCode = status;
        resp.ContentType = contentType;
        resp.ContentLength64 = body.Length;
        resp.OutputStream.Write(body);
        resp.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
