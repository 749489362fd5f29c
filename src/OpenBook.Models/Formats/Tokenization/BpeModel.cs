using System.Collections.Concurrent;
using System.Text;

namespace OpenBook.Models.Formats.Tokenization;

/// <summary>
/// The BPE model of a Hugging Face <c>tokenizer.json</c>: a vocabulary, ranked merges, optional byte fallback
/// (<c>&lt;0xNN&gt;</c> tokens for characters missing from the vocabulary) and an optional unknown token.
/// Merging follows the HF algorithm: repeatedly merge the adjacent pair with the lowest rank, leftmost first.
/// Thread-safe: encoding from several threads at once is supported.
/// </summary>
public sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string[] _idToToken;
    private readonly Dictionary<(int, int), (int Rank, int NewId)> _merges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal); // thread-safe: one tokenizer may serve many threads
    private readonly int[] _byteIds = new int[256];

    /// <summary>Creates the model.</summary>
    /// <param name="vocab">Token → id.</param>
    /// <param name="merges">Merges in rank order (rank 0 first).</param>
    /// <param name="unkToken">Token for unknown characters (null: none; such characters are dropped, as in HF).</param>
    /// <param name="byteFallback">Use <c>&lt;0xNN&gt;</c> tokens for characters not in the vocabulary.</param>
    /// <param name="fuseUnk">Collapse consecutive unknown tokens into one.</param>
    /// <param name="ignoreMerges">Look whole words up in the vocabulary before merging (Llama-3).</param>
    public BpeModel(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        string? unkToken = null, bool byteFallback = false, bool fuseUnk = false, bool ignoreMerges = false)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _merges = new Dictionary<(int, int), (int Rank, int NewId)>(merges.Count);
        var size = _vocab.Count == 0 ? 0 : _vocab.Values.Max() + 1;
        _idToToken = new string[size];
        foreach (var (t, id) in _vocab) _idToToken[id] = t;
        UnkToken = unkToken;
        ByteFallback = byteFallback;
        FuseUnk = fuseUnk;
        IgnoreMerges = ignoreMerges;
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (l, r) = merges[rank];
            if (!_vocab.TryGetValue(l, out var li) || !_vocab.TryGetValue(r, out var ri) || !_vocab.TryGetValue(l + r, out var ni))
                throw new OpenBookException($"tokenizer.json: merge #{rank} \"{l} {r}\" uses a token that is not in the vocabulary");
            _merges.TryAdd((li, ri), (rank, ni));
        }
        for (var b = 0; b < 256; b++) _byteIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
        if (byteFallback && _byteIds.Any(id => id < 0))
            throw new OpenBookException("tokenizer.json: byte_fallback is true but the vocabulary lacks some <0xNN> tokens");
    }

    /// <summary>Unknown token, if any.</summary>
    public string? UnkToken { get; }
    /// <summary>Whether missing characters become <c>&lt;0xNN&gt;</c> byte tokens.</summary>
    public bool ByteFallback { get; }
    /// <summary>Whether consecutive unknown tokens are fused.</summary>
    public bool FuseUnk { get; }
    /// <summary>Whether a word found whole in the vocabulary skips merging.</summary>
    public bool IgnoreMerges { get; }
    /// <summary>Number of merges.</summary>
    public int MergeCount => _merges.Count;
    /// <summary>Largest id + 1.</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>Token → id.</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>The id of a token string, or null.</summary>
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>The token string of an id, or null.</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>If <paramref name="id"/> is a <c>&lt;0xNN&gt;</c> byte token, its byte.</summary>
    public bool TryGetFallbackByte(int id, out byte b)
    {
        var t = IdToToken(id);
        if (t is { Length: 6 } && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
            byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out b))
            return true;
        b = 0;
        return false;
    }

    /// <summary>Tokenizes one pre-tokenized word, appending ids.</summary>
    public void Tokenize(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (word.Length < 256 && _cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        int[] ids;
        if (IgnoreMerges && _vocab.TryGetValue(word, out var whole)) ids = [whole];
        else ids = Merge(word);
        if (word.Length < 256)
        {
            if (_cache.Count > 100_000) _cache.Clear();
            _cache[word] = ids;
        }
        output.AddRange(ids);
    }

    private struct Symbol
    {
        public int Id, Prev, Next;
        public bool Alive;
    }

    private int[] Merge(string word)
    {
        var symbols = new List<Symbol>(word.Length);
        var unkId = UnkToken is not null && _vocab.TryGetValue(UnkToken, out var u) ? u : -1;
        var lastWasUnk = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length;)
        {
            var len = char.IsSurrogatePair(word, i) ? 2 : 1;
            var ch = word.Substring(i, len);
            i += len;
            if (_vocab.TryGetValue(ch, out var id))
            {
                Add(id);
                lastWasUnk = false;
            }
            else if (ByteFallback)
            {
                var n = Encoding.UTF8.GetBytes(ch, utf8);
                for (var k = 0; k < n; k++) Add(_byteIds[utf8[k]]);
                lastWasUnk = false;
            }
            else if (unkId >= 0)
            {
                if (!(FuseUnk && lastWasUnk)) Add(unkId);
                lastWasUnk = true;
            }
        }

        void Add(int id) => symbols.Add(new Symbol { Id = id, Prev = symbols.Count - 1, Next = symbols.Count + 1, Alive = true });

        if (symbols.Count == 0) return [];
        var last = symbols[^1];
        last.Next = -1;
        symbols[^1] = last;

        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId, int NewId), (int Rank, int Pos)>();
        void Push(int left)
        {
            if (left < 0) return;
            var right = symbols[left].Next;
            if (right < 0) return;
            if (_merges.TryGetValue((symbols[left].Id, symbols[right].Id), out var m))
                queue.Enqueue((left, right, symbols[left].Id, symbols[right].Id, m.NewId), (m.Rank, left));
        }
        for (var i = 0; i < symbols.Count - 1; i++) Push(i);

        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
        while (queue.TryDequeue(out var m, out _))
        {
            ref var l = ref span[m.Left];
            ref var r = ref span[m.Right];
            if (!l.Alive || !r.Alive || l.Next != m.Right || l.Id != m.LeftId || r.Id != m.RightId) continue;
            l.Id = m.NewId;
            l.Next = r.Next;
            r.Alive = false;
            if (l.Next >= 0) span[l.Next].Prev = m.Left;
            Push(l.Prev);
            Push(m.Left);
        }

        var result = new List<int>(symbols.Count);
        for (var i = 0; i >= 0; i = span[i].Next) result.Add(span[i].Id);
        return result.ToArray();
    }
}
