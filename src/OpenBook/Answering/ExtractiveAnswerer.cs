using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.AI;
using OpenBook.Embeddings;
using OpenBook.Retrieval.Lexical;

namespace OpenBook.Answering;

/// <summary>Tuning of the extractive (no-model) answerer.</summary>
public sealed record ExtractiveOptions
{
    /// <summary>
    /// Without an encoder: minimum IDF-weighted share of the question's terms that the best sentence (with its
    /// headings) must cover; below it the answer is "The documents do not say.".
    /// </summary>
    public double MinCoverage { get; init; } = 0.4;

    /// <summary>
    /// With an encoder: the least evidence (<see cref="AnswerCandidate.Evidence"/>) the best candidate needs, else
    /// "The documents do not say.".
    /// </summary>
    public double MinEvidence { get; init; } = 0.40;

    /// <summary>With an encoder: weight of the semantic similarity against the candidate's own lexical coverage.</summary>
    public double SemanticWeight { get; init; } = 0.5;

    /// <summary>
    /// With an encoder: weight of the passage's coverage of the question (<see cref="AnswerCandidate.PassageCoverage"/>)
    /// in the evidence. A question about something the passage never names (another office, a benefit the company
    /// does not offer) then needs a much closer sentence to be answered.
    /// </summary>
    public double PassageWeight { get; init; } = 0.4;

    /// <summary>Most sentences in an answer.</summary>
    public int MaxSentences { get; init; } = 3;

    /// <summary>A further sentence is kept when its score is at least this fraction of the best one.</summary>
    public double RelativeCutoff { get; init; } = 0.6;

    /// <summary>
    /// Score candidates with the book's embedding model too (one query and up to <see cref="MaxEncodedCandidates"/>
    /// short passages per question: cheap with a local encoder, a paid call with a remote one).
    /// </summary>
    public bool UseEncoder { get; init; } = true;

    /// <summary>Most candidates scored with the encoder per question (the best by lexical score; bounds the work).</summary>
    public int MaxEncodedCandidates { get; init; } = 64;
}

/// <summary>One sentence or table row of a retrieved passage, as the extractive answerer scored it.</summary>
/// <param name="Text">What the answer would quote: the sentence, or a table row rendered with its column headers
/// ("Office: Berlin (HQ) · Entitlement per calendar year: 30 working days").</param>
/// <param name="Hit">Index of the passage in the retrieved list.</param>
/// <param name="IsTableRow">True for a table row.</param>
/// <param name="Lexical">IDF-weighted share of the question's terms the candidate covers (headings and column headers count half).</param>
/// <param name="Semantic">Cosine similarity of the question (as a query) to the candidate in its headings' context (null without an encoder).</param>
/// <param name="Evidence">How well the candidate answers: lexical coverage alone, or blended with the semantic similarity.</param>
/// <param name="Score">Evidence with the passage's retrieval rank and the candidate's length taken into account (the ranking key).</param>
/// <param name="PassageCoverage">IDF-weighted share of the question's terms found anywhere in the candidate's passage or its headings.</param>
public sealed record AnswerCandidate(string Text, int Hit, bool IsTableRow, double Lexical, double? Semantic, double Evidence, double Score, double PassageCoverage = 0)
{
    /// <summary>For a list item, the line that introduces the list ("The probation period depends on your country of
    /// employment:"): read with the item for scoring, its terms counting half like headings, but not quoted.</summary>
    public string? LeadIn { get; init; }
}

/// <summary>
/// Answers without a language model. The candidates are the sentences and table rows of the retrieved passages (a row
/// is read with its column headers). Each is scored by lexical coverage of the question's terms (IDF-weighted,
/// headings counting half) and, when an encoder is given, by the cosine similarity of the question to the candidate
/// set in its heading path; the best ones are quoted, each cited with [n]. When the best evidence is weak the answer
/// is "The documents do not say.".
/// </summary>
public sealed class ExtractiveAnswerer(Func<string, double> idf, ExtractiveOptions? options = null, IEmbeddingGenerator<string, Embedding<float>>? encoder = null)
{
    private readonly ExtractiveOptions _options = options ?? new ExtractiveOptions();

    /// <summary>Builds the answer from retrieved passages (best first), lexically (the encoder, if any, is not used).</summary>
    public Answer Answer(string question, IReadOnlyList<SearchHit> hits) =>
        Build(question, hits, Rank(question, hits, null));

    /// <summary>Builds the answer from retrieved passages (best first), with the encoder when there is one.</summary>
    public async Task<Answer> AnswerAsync(string question, IReadOnlyList<SearchHit> hits, CancellationToken cancellationToken = default) =>
        Build(question, hits, await RankAsync(question, hits, cancellationToken).ConfigureAwait(false));

    /// <summary>Every candidate of the passages, best first (for explaining an answer, and for calibration).</summary>
    public async Task<IReadOnlyList<AnswerCandidate>> RankAsync(string question, IReadOnlyList<SearchHit> hits, CancellationToken cancellationToken = default)
    {
        if (encoder is null) return Rank(question, hits, null);
        var lexical = Rank(question, hits, null);
        if (lexical.Count == 0) return lexical;
        var encoded = lexical.Take(_options.MaxEncodedCandidates).ToList();
        var texts = encoded.Select(c => InContext(c, hits[c.Hit])).ToList();
        var q = await encoder.EmbedQueryAsync(question, cancellationToken).ConfigureAwait(false);
        var vectors = await encoder.GenerateAsync(texts, EmbeddingInput.WithKind(EmbeddingInputKind.Passage), cancellationToken).ConfigureAwait(false);
        var semantic = new Dictionary<AnswerCandidate, double>(); // value equality: the re-ranked candidates are new records with the same fields
        for (int i = 0; i < encoded.Count; i++) semantic[encoded[i]] = TensorPrimitives.CosineSimilarity(q, vectors[i].Vector.Span);
        return Rank(question, hits, c => semantic.TryGetValue(c, out var s) ? s : null);
    }

    private Answer Build(string question, IReadOnlyList<SearchHit> hits, IReadOnlyList<AnswerCandidate> candidates)
    {
        if (candidates.Count == 0) return NotFound(hits, 0);
        var best = candidates[0];
        var threshold = best.Semantic is null ? _options.MinCoverage : _options.MinEvidence;
        if (best.Evidence < threshold) return NotFound(hits, best.Evidence);

        var chosen = new List<AnswerCandidate>();
        foreach (var c in candidates)
        {
            if (chosen.Count >= _options.MaxSentences) break;
            if (c.Score < best.Score * _options.RelativeCutoff || c.Evidence < threshold) break;
            if (chosen.Any(x => x.Text == c.Text)) continue;
            chosen.Add(c);
        }

        var numbers = new Dictionary<int, int>();
        var citations = new List<Citation>();
        var text = new StringBuilder();
        foreach (var c in chosen)
        {
            if (!numbers.TryGetValue(c.Hit, out var n))
            {
                n = numbers[c.Hit] = numbers.Count + 1;
                var hit = hits[c.Hit];
                citations.Add(new Citation(n, hit.Source, hit.Page, hit.Text, hit.Headings, hit.ChunkId));
            }
            if (text.Length > 0) text.Append(' ');
            text.Append(c.Text.TrimEnd()).Append($" [{n}]");
        }
        return new Answer
        {
            Text = text.ToString(), Mode = AnswerMode.Extractive, Citations = citations, Found = true, Retrieved = hits, Confidence = best.Evidence,
        };
    }

    /// <summary>Candidates scored lexically, blended with <paramref name="semantic"/> where it has a value; best first.</summary>
    private List<AnswerCandidate> Rank(string question, IReadOnlyList<SearchHit> hits, Func<AnswerCandidate, double?>? semantic)
    {
        var queryTerms = TextAnalyzer.Default.Terms(question).Distinct().ToList();
        var weights = queryTerms.ToDictionary(t => t, idf);
        var total = weights.Values.Sum();
        var candidates = new List<AnswerCandidate>();
        if (hits.Count == 0 || total <= 0) return candidates;

        for (var h = 0; h < hits.Count; h++)
        {
            var hit = hits[h];
            var headingTerms = new HashSet<string>(TextAnalyzer.Default.Terms(string.Join(" ", hit.Headings)));
            var passageTerms = new HashSet<string>(TextAnalyzer.Default.Terms(hit.Text));
            passageTerms.UnionWith(headingTerms);
            var passageCoverage = weights.Where(kv => passageTerms.Contains(kv.Key)).Sum(kv => kv.Value) / total;
            var rankPrior = 1.0 / (1 + 0.1 * h);
            foreach (var (sentence, tableHeader) in SentenceSplitter.SplitWithTableHeaders(SentenceSplitter.AttachLeadIns(hit.Text)))
            {
                var row = SentenceSplitter.IsTableRow(sentence);
                if (row && tableHeader is null) continue; // a header row: its words count as context of the rows below
                string? leadIn = null;
                var sentenceText = sentence;
                if (sentence.IndexOf(SentenceSplitter.LeadInSeparator) is int sep and >= 0)
                {
                    leadIn = sentence[..sep];
                    sentenceText = sentence[(sep + 1)..];
                }
                var terms = new HashSet<string>(TextAnalyzer.Default.Terms(sentenceText));
                if (terms.Count == 0) continue;
                var contextTerms = tableHeader is not null ? [.. headingTerms, .. TextAnalyzer.Default.Terms(tableHeader)]
                    : leadIn is not null ? [.. headingTerms, .. TextAnalyzer.Default.Terms(leadIn)] : headingTerms;
                double covered = 0;
                foreach (var (t, w) in weights)
                    covered += terms.Contains(t) ? w : contextTerms.Contains(t) ? 0.5 * w : 0;
                var coverage = covered / total;
                // Prefer concise sentences slightly, and passages ranked higher by the retriever.
                var lengthPenalty = 1.0 / (1 + Math.Max(0, terms.Count - 30) / 60.0);
                var text = tableHeader is null ? sentenceText : SentenceSplitter.RenderRow(tableHeader, sentence);
                var candidate = new AnswerCandidate(text, h, row, coverage, null, coverage, coverage * rankPrior * lengthPenalty, passageCoverage) { LeadIn = leadIn };
                if (semantic?.Invoke(candidate) is double sim)
                {
                    var own = _options.SemanticWeight * sim + (1 - _options.SemanticWeight) * coverage;
                    var evidence = (1 - _options.PassageWeight) * own + _options.PassageWeight * passageCoverage;
                    candidate = candidate with { Semantic = sim, Evidence = evidence, Score = evidence * rankPrior * lengthPenalty };
                }
                candidates.Add(candidate);
            }
        }
        // Stable: equal scores keep passage order.
        return [.. candidates.Select((c, i) => (c, i)).OrderByDescending(x => x.c.Score).ThenBy(x => x.i).Select(x => x.c)];
    }

    /// <summary>What the encoder reads for a candidate: the passage's heading path, then the candidate.</summary>
    private static string InContext(AnswerCandidate c, SearchHit hit)
    {
        var text = c.LeadIn is null ? c.Text : c.LeadIn + " " + c.Text;
        return hit.Headings.Count == 0 ? text : string.Join(" › ", hit.Headings) + ": " + text;
    }

    private static Answer NotFound(IReadOnlyList<SearchHit> hits, double confidence) => new()
    {
        Text = OpenBook.Answer.NotInDocuments, Mode = AnswerMode.Extractive, Citations = [], Found = false, Retrieved = hits, Confidence = confidence,
    };
}

/// <summary>Splits text into sentences: ., ! or ? followed by space and an upper-case letter, digit or quote; line breaks end list items and table rows.</summary>
public static class SentenceSplitter
{
    private static readonly HashSet<string> Abbreviations = new(StringComparer.OrdinalIgnoreCase)
    {
        "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "inc", "ltd", "no", "approx", "dept", "st", "jr", "sr", "p",
    };

    /// <summary>Sentences of <paramref name="text"/>, trimmed, non-empty.</summary>
    public static IEnumerable<string> Split(string text) => SplitWithTableHeaders(text).Select(s => s.Sentence);

    /// <summary>
    /// Sentences of <paramref name="text"/>; a table row ("a | b | c" line) is one sentence, paired with the first row of
    /// its table (the column headers). Other sentences, and header rows themselves, have a null header.
    /// </summary>
    public static IEnumerable<(string Sentence, string? TableHeader)> SplitWithTableHeaders(string text)
    {
        string? header = null;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0) { header = null; continue; }
            if (IsTableRow(line))
            {
                if (header is null) { header = line; yield return (line, null); }
                else yield return (line, header);
                continue;
            }
            header = null;
            var start = 0;
            for (var i = 0; i < line.Length - 1; i++)
            {
                if (line[i] is not ('.' or '!' or '?') || line[i + 1] != ' ') continue;
                var next = i + 2 < line.Length ? line[i + 2] : ' ';
                if (!(char.IsUpper(next) || char.IsDigit(next) || next is '"' or '“' or '(')) continue;
                if (line[i] == '.' && IsAbbreviation(line, start, i)) continue;
                var sentence = line[start..(i + 1)].Trim();
                if (sentence.Length > 0) yield return (sentence, null);
                start = i + 2;
            }
            var rest = line[start..].Trim();
            if (rest.Length > 0) yield return (rest, null);
        }
    }

    /// <summary>
    /// Reads each item of a list with the line that introduces it: a line ending with ':' followed (blank lines aside)
    /// by list items ("- ", "* ", "• ", "1. ", "1) ") becomes one line per item, lead-in + item (the marker dropped), and the lead-in
    /// line alone is dropped: "Germany (Berlin, Munich): 6 months." read after "The probation period depends on your
    /// country of employment:" answers, the lead-in alone does not. The lead-in and the item are joined by
    /// <see cref="LeadInSeparator"/> (a control character no loader writes); other lines are kept as they are.
    /// </summary>
    internal const char LeadInSeparator = '\u001F';

    internal static string AttachLeadIns(string text)
    {
        if (!text.Contains(":\n", StringComparison.Ordinal)) return text;
        var lines = text.Split('\n');
        var sb = new StringBuilder(text.Length + 256);
        string? leadIn = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd();
            var item = ListItem(line);
            if (item is not null && leadIn is not null)
            {
                sb.Append(leadIn).Append(LeadInSeparator).Append(item).Append('\n');
                continue;
            }
            if (line.Length == 0 && leadIn is not null) { sb.Append('\n'); continue; } // blank lines around or between the items
            leadIn = null;
            int next = i + 1;
            while (next < lines.Length && lines[next].Trim().Length == 0) next++;
            if (line.EndsWith(':') && !IsTableRow(line) && next < lines.Length && ListItem(lines[next].TrimEnd()) is not null)
            {
                // Only the lead-in's last sentence introduces the list; earlier sentences of the line stay on their own.
                var last = LastSentenceStart(line);
                if (last > 0) sb.Append(line.AsSpan(0, last).TrimEnd()).Append('\n');
                leadIn = line[last..].Trim();
                continue;
            }
            sb.Append(lines[i]).Append('\n');
        }
        return sb.ToString(0, Math.Max(0, sb.Length - 1));
    }

    /// <summary>The text of a list item line without its marker, or null when the line is not a list item.</summary>
    private static string? ListItem(string line)
    {
        var t = line.TrimStart();
        if (t.Length > 2 && t[0] is '-' or '*' or '•' && t[1] == ' ') return t[2..].Trim();
        int d = 0;
        while (d < t.Length && d < 3 && char.IsDigit(t[d])) d++;
        if (d > 0 && d + 1 < t.Length && t[d] is '.' or ')' && t[d + 1] == ' ') return t[(d + 2)..].Trim();
        return null;
    }

    /// <summary>Where the last sentence of <paramref name="line"/> starts (0 when it is one sentence).</summary>
    private static int LastSentenceStart(string line)
    {
        int start = 0;
        for (var i = 0; i < line.Length - 1; i++)
        {
            if (line[i] is not ('.' or '!' or '?') || line[i + 1] != ' ') continue;
            var next = i + 2 < line.Length ? line[i + 2] : ' ';
            if (!(char.IsUpper(next) || char.IsDigit(next) || next is '"' or '“' or '(')) continue;
            if (line[i] == '.' && IsAbbreviation(line, start, i)) continue;
            start = i + 2;
        }
        return start;
    }

    /// <summary>True for a table row as the loaders write it ("a | b | c").</summary>
    public static bool IsTableRow(string line) => line.Contains(" | ", StringComparison.Ordinal);

    /// <summary>
    /// A table row read with its header: "Office: Berlin (HQ) · Entitlement per calendar year: 30 working days".
    /// Empty cells are left out; a row whose cell count differs from the header's is returned as it is.
    /// </summary>
    public static string RenderRow(string header, string row)
    {
        var names = header.Split(" | ").Select(c => c.Trim()).ToArray();
        var cells = row.Split(" | ").Select(c => c.Trim()).ToArray();
        if (names.Length != cells.Length) return row;
        var parts = names.Zip(cells).Where(p => p.Second.Length > 0)
            .Select(p => p.First.Length == 0 || p.First == p.Second ? p.Second : $"{p.First}: {p.Second}");
        return string.Join(" · ", parts);
    }

    private static bool IsAbbreviation(string line, int start, int dot)
    {
        var w = dot - 1;
        while (w >= start && (char.IsLetter(line[w]) || line[w] == '.')) w--;
        var word = line[(w + 1)..dot];
        return word.Length == 1 && char.IsUpper(word[0]) || Abbreviations.Contains(word);
    }
}
