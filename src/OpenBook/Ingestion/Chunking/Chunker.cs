namespace OpenBook.Ingestion;

/// <summary>
/// Token-aware recursive splitter. Each section of a document is chunked on its own (chunks never cross a section
/// boundary) except tiny sections: consecutive sections under <see cref="ChunkingOptions.MinSectionTokens"/> tokens
/// whose heading paths are siblings or parent/child, on the same page, are merged into one chunk (up to the chunk size) that keeps
/// their common heading path and page. A section that fits in <see cref="ChunkingOptions.ChunkTokens"/> is one
/// chunk. A larger section is cut into chunks of at most that many tokens, preferring to end a chunk at a paragraph
/// break, then at a sentence or line end, then between words, and only inside a word (an over-long token run) as a
/// last resort — each of those only when the chunk is at least half full. Consecutive chunks of one section
/// overlap by up to <see cref="ChunkingOptions.OverlapTokens"/> tokens of whole words.
/// Every chunk's text is exactly <c>FullText[CharStart..CharEnd]</c> (trimmed of surrounding whitespace).
/// </summary>
public sealed class Chunker
{
    private readonly ChunkingOptions _options;
    private readonly ITokenCounter _counter;

    /// <summary>Creates a chunker; throws <see cref="OpenBookException"/> for invalid options.</summary>
    public Chunker(ChunkingOptions? options = null, ITokenCounter? counter = null)
    {
        _options = options ?? ChunkingOptions.Default;
        _options.Validate();
        _counter = counter ?? ApproximateTokenCounter.Instance;
    }

    /// <summary>The options in use.</summary>
    public ChunkingOptions Options => _options;

    /// <summary>The token counter in use.</summary>
    public ITokenCounter Counter => _counter;

    /// <summary>Splits a document into chunks, in document order.</summary>
    public IReadOnlyList<Chunk> Split(LoadedDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var full = document.FullText;
        var sections = document.Sections;
        var spans = new (int Start, int End, int Tokens)[sections.Count];
        int offset = 0;
        for (int i = 0; i < sections.Count; i++)
        {
            var (s, e) = Trim(full, offset, offset + sections[i].Text.Length);
            spans[i] = (s, e, s < e ? _counter.CountTokens(full.AsSpan(s, e - s)) : 0);
            offset += sections[i].Text.Length + LoadedDocument.SectionSeparator.Length;
        }

        var chunks = new List<Chunk>();
        for (int i = 0; i < sections.Count;)
        {
            if (spans[i].Start >= spans[i].End) { i++; continue; }
            if (IsTiny(spans[i].Tokens))
            {
                // Merge a run of tiny, related sections.
                int j = i + 1, last = i, total = spans[i].Tokens;
                var headings = sections[i].Headings;
                int? page = sections[i].Page;
                while (j < sections.Count)
                {
                    if (spans[j].Start >= spans[j].End) { j++; continue; }
                    // Never merge across a page break: the chunk's citation names one page.
                    if (!IsTiny(spans[j].Tokens) || !Related(sections[last].Headings, sections[j].Headings) || sections[j].Page != sections[i].Page) break;
                    int merged = _counter.CountTokens(full.AsSpan(spans[i].Start, spans[j].End - spans[i].Start));
                    if (merged > _options.ChunkTokens) break;
                    total = merged;
                    headings = CommonPrefix(headings, sections[j].Headings);
                    last = j++;
                }
                Add(chunks, full, spans[i].Start, spans[last].End, page, headings, total);
                i = last + 1;
                continue;
            }
            if (spans[i].Tokens <= _options.ChunkTokens)
                Add(chunks, full, spans[i].Start, spans[i].End, sections[i].Page, sections[i].Headings, spans[i].Tokens);
            else
                SplitSection(chunks, full, spans[i].Start, spans[i].End, sections[i]);
            i++;
        }
        return chunks;
    }

    private bool IsTiny(int tokens) => tokens < _options.MinSectionTokens;

    /// <summary>Siblings (same parent) or parent and direct child; two sections without headings are related.</summary>
    private static bool Related(IReadOnlyList<string> a, IReadOnlyList<string> b) =>
        CommonPrefix(a, b).Count >= Math.Max(a.Count, b.Count) - 1;

    private static IReadOnlyList<string> CommonPrefix(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        int n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
        return n == a.Count ? a : a.Take(n).ToArray();
    }

    private static void Add(List<Chunk> chunks, string full, int start, int end, int? page, IReadOnlyList<string> headings, int tokens) =>
        chunks.Add(new Chunk(chunks.Count, full[start..end], page, headings, start, end, tokens));

    private static (int, int) Trim(string text, int start, int end)
    {
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        return (start, end);
    }

    // Break strength before an atom: the higher, the better a place to end a chunk.
    private const byte InsideWord = 0, BetweenWords = 1, SentenceEnd = 2, ParagraphEnd = 3;

    private readonly record struct Atom(int Start, int End, int Tokens, byte BreakBefore);

    private void SplitSection(List<Chunk> chunks, string full, int start, int end, DocumentSection section)
    {
        var atoms = Atoms(full, start, end);
        var prefix = new int[atoms.Count + 1];
        for (int k = 0; k < atoms.Count; k++) prefix[k + 1] = prefix[k] + atoms[k].Tokens;

        int budget = _options.ChunkTokens, i = 0;
        while (i < atoms.Count)
        {
            int j = i;
            while (j < atoms.Count && prefix[j + 1] - prefix[i] <= budget) j++;
            int stop = j < atoms.Count ? BestBreak(atoms, prefix, i, j, budget / 2) : j; // chunk = atoms [i, stop)
            int s = atoms[i].Start, e = atoms[stop - 1].End;
            Add(chunks, full, s, e, section.Page, section.Headings, _counter.CountTokens(full.AsSpan(s, e - s)));
            if (stop >= atoms.Count) break;

            // Overlap: step back over whole atoms worth at most OverlapTokens, never back to (or before) i.
            int next = stop;
            while (next - 1 > i && prefix[stop] - prefix[next - 1] <= _options.OverlapTokens) next--;
            while (next < stop && atoms[next].BreakBefore == InsideWord) next++; // don't start inside a word
            i = next;
        }
    }

    /// <summary>
    /// Where to end a chunk that starts at atom <paramref name="i"/> and could hold atoms up to <paramref name="j"/>
    /// (exclusive): the last paragraph break, else sentence/line end, else word gap that leaves the chunk at least
    /// <paramref name="half"/> full; else as many atoms as fit.
    /// </summary>
    private static int BestBreak(List<Atom> atoms, int[] prefix, int i, int j, int half)
    {
        for (int strength = ParagraphEnd; strength >= BetweenWords; strength--)
            for (int k = j; k > i && prefix[k] - prefix[i] >= half; k--)
                if (atoms[k].BreakBefore >= strength) return k;
        return j;
    }

    /// <summary>Words of the span with token counts and the break strength before each; over-long words are cut.</summary>
    private List<Atom> Atoms(string full, int start, int end)
    {
        var atoms = new List<Atom>();
        int maxAtom = Math.Max(1, _options.ChunkTokens - _options.OverlapTokens);
        int p = start;
        bool first = true;
        while (p < end)
        {
            int wsStart = p, newlines = 0;
            while (p < end && char.IsWhiteSpace(full[p])) { if (full[p] == '\n') newlines++; p++; }
            if (p >= end) break;
            int w = p;
            while (p < end && !char.IsWhiteSpace(full[p])) p++;
            byte strength = first || newlines >= 2 ? ParagraphEnd
                : newlines == 1 || EndsSentence(full, wsStart) ? SentenceEnd
                : BetweenWords;
            first = false;
            int tokens = _counter.CountTokens(full.AsSpan(w, p - w));
            if (tokens <= maxAtom) { atoms.Add(new Atom(w, p, tokens, strength)); continue; }
            // An over-long word (URL, base64...): cut into pieces of at most maxAtom tokens.
            int q = w;
            while (q < p)
            {
                // Longest piece [q, cut) within maxAtom tokens. The search window grows from a guess by doubling,
                // so each piece costs time in proportion to its own length, not to the rest of the word
                // (a binary search over the whole word made text without whitespace quadratic).
                int window = Math.Max(16, maxAtom * 8);
                while (window < p - q && _counter.CountTokens(full.AsSpan(q, window)) <= maxAtom) window = (int)Math.Min(int.MaxValue, 2L * window);
                int lo = q + 1, hi = q + Math.Min(p - q, window);
                while (lo < hi)
                {
                    int mid = (lo + hi + 1) / 2;
                    if (_counter.CountTokens(full.AsSpan(q, mid - q)) <= maxAtom) lo = mid; else hi = mid - 1;
                }
                int cut = lo;
                if (char.IsHighSurrogate(full[cut - 1]) && cut < p && cut - 1 > q) cut--;
                atoms.Add(new Atom(q, cut, _counter.CountTokens(full.AsSpan(q, cut - q)), q == w ? strength : InsideWord));
                q = cut;
            }
        }
        return atoms;
    }

    /// <summary>True when the word before the whitespace at <paramref name="wsStart"/> ends a sentence (". ", "?) ").</summary>
    private static bool EndsSentence(string text, int wsStart)
    {
        int k = wsStart - 1;
        while (k >= 0 && text[k] is '"' or '\'' or ')' or ']' or '”' or '’' or '»') k--;
        return k >= 0 && text[k] is '.' or '!' or '?' or '…' or ':' or ';' or '。' or '！' or '？';
    }
}
