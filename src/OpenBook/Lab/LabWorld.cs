using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace OpenBook.Lab;

/// <summary>Sizes of a synthetic world (<see cref="LabWorld.Generate"/>).</summary>
public sealed record LabWorldOptions
{
    /// <summary>Seed: the same seed and sizes give byte-identical worlds.</summary>
    public int Seed { get; init; } = 7;
    /// <summary>People of the public world (the pretraining company).</summary>
    public int PublicPeople { get; init; } = 160;
    /// <summary>People of the private corpus (a company never seen in pretraining).</summary>
    public int PrivatePeople { get; init; } = 40;
    /// <summary>Fraction of the public entities kept out of pretraining, to measure reading skill on unseen documents.</summary>
    public double PublicHeldOut { get; init; } = 0.15;
    /// <summary>Fraction of the private facts that the change set alters.</summary>
    public double ChangeFraction { get; init; } = 0.25;
    /// <summary>
    /// People of the reading-drill company: a third, public company whose facts are used only inside reading examples of
    /// pretraining (question + passages → answer), each fact asked once, so copying from the passage is the only way to
    /// answer them (memorising is no help). 0: no drills. Its names never occur in the other parts.
    /// </summary>
    public int DrillPeople { get; init; }

    /// <summary>Checks ranges, naming the bad option.</summary>
    public LabWorldOptions Validate()
    {
        if (PublicPeople < 8) throw new OpenBookException($"public people must be ≥ 8 (got {PublicPeople}).");
        if (PrivatePeople < 8) throw new OpenBookException($"private people must be ≥ 8 (got {PrivatePeople}).");
        if (PublicHeldOut is < 0 or >= 0.9) throw new OpenBookException($"public held-out fraction must be in [0, 0.9) (got {PublicHeldOut}).");
        if (ChangeFraction is <= 0 or > 1) throw new OpenBookException($"change fraction must be in (0, 1] (got {ChangeFraction}).");
        if (DrillPeople is < 0 or (> 0 and < 8) or > 20000) throw new OpenBookException($"drill people must be 0 or in [8, 20000] (got {DrillPeople}).");
        return this;
    }
}

/// <summary>Which part of the world an entity or document belongs to.</summary>
public enum LabPart
{
    /// <summary>The pretraining company.</summary>
    Public,
    /// <summary>Public entities kept out of pretraining (reading-skill test).</summary>
    PublicHeldOut,
    /// <summary>The private company: never seen in pretraining.</summary>
    Private,
    /// <summary>The reading-drill company: its facts occur only in pretraining reading examples.</summary>
    Drill,
}

/// <summary>One attribute of an entity: its value, the sentence variants that state it, and the questions that ask it.</summary>
/// <param name="Attribute">Attribute name ("office", "extension", …).</param>
/// <param name="Value">The value as written in documents and expected as the answer.</param>
public sealed record LabFact(string Attribute, string Value);

/// <summary>An entity of the world.</summary>
/// <param name="Id">Stable id ("person-012").</param>
/// <param name="Kind">person, office, team, product, policy.</param>
/// <param name="Name">Display name (unique in the world).</param>
/// <param name="Part">Public, held out or private.</param>
/// <param name="Facts">Its attributes, in a fixed order.</param>
public sealed record LabEntity(string Id, string Kind, string Name, LabPart Part, IReadOnlyList<LabFact> Facts)
{
    /// <summary>The value of <paramref name="attribute"/>.</summary>
    public string Get(string attribute) => Facts.First(f => f.Attribute == attribute).Value;
}

/// <summary>A rendered document: relative path (its source in question files), style and text.</summary>
/// <param name="Path">Path relative to the part's docs folder ("people/person-012.md").</param>
/// <param name="EntityId">The entity it describes.</param>
/// <param name="Style">policy, faq, table, email, html.</param>
/// <param name="Text">File contents.</param>
public sealed record LabDocument(string Path, string EntityId, string Style, string Text);

/// <summary>A question about the world with its gold answer and source document.</summary>
/// <param name="Id">Unique id.</param>
/// <param name="Question">The question.</param>
/// <param name="Answer">Gold answer (null when unanswerable).</param>
/// <param name="Source">Path of the document that holds the answer (null when unanswerable).</param>
/// <param name="Type">single, comparison, multi-hop, unanswerable.</param>
/// <param name="Phrasing">"train" (the phrasings training data uses) or "unseen" (never in any training data).</param>
/// <param name="EntityId">The entity asked about (the final hop's for multi-hop questions).</param>
/// <param name="Attribute">The attribute asked about.</param>
public sealed record LabQuestion(string Id, string Question, string? Answer, string? Source, string Type, string Phrasing, string EntityId, string Attribute);

/// <summary>A whole synthetic world: entities, documents and question sets of the three parts, and the change set.</summary>
public sealed record LabWorldData(
    LabWorldOptions Options,
    IReadOnlyList<LabEntity> Entities,
    IReadOnlyList<LabDocument> PublicDocuments,
    IReadOnlyList<LabDocument> HeldOutDocuments,
    IReadOnlyList<LabDocument> PrivateDocuments,
    IReadOnlyList<LabDocument> ChangedDocuments,
    IReadOnlyList<LabQuestion> PublicQuestions,
    IReadOnlyList<LabQuestion> HeldOutQuestions,
    IReadOnlyList<LabQuestion> PrivateQuestions,
    IReadOnlyList<LabQuestion> ChangedQuestions)
{
    /// <summary>Documents of the reading-drill company (<see cref="LabWorldOptions.DrillPeople"/>).</summary>
    public IReadOnlyList<LabDocument> DrillDocuments { get; init; } = [];
    /// <summary>Single-fact questions (training phrasings only) about the reading-drill company.</summary>
    public IReadOnlyList<LabQuestion> DrillQuestions { get; init; } = [];
}

/// <summary>
/// A seeded, deterministic closed world for the lab: two companies (a public one to pretrain on, a private one whose names
/// never occur in the public part) of people, offices, teams, products and policies with attributes and relations,
/// rendered as documents in several styles (policy page, FAQ, table, e-mail, HTML) from paraphrased sentence templates,
/// and question sets (single fact, comparison, multi-hop, unanswerable) in training and unseen phrasings, with answers and
/// source documents. A change set alters a share of the private facts (new document versions and questions).
/// </summary>
public static class LabWorld
{
    /// <summary>Document styles, in rotation order.</summary>
    public static IReadOnlyList<string> Styles { get; } = ["policy", "faq", "table", "email", "html"];

    private static readonly string[] Onsets = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "tr", "v", "w", "z", "sh", "th"];
    private static readonly string[] Vowels = ["a", "e", "i", "o", "u", "ai", "ei", "ou"];
    private static readonly string[] Codas = ["", "", "n", "r", "l", "s", "m", "th", "x", "nd", "rk"];
    private static readonly string[] Roles = ["engineer", "analyst", "designer", "accountant", "recruiter", "lawyer", "nurse", "buyer", "planner", "translator"];
    private static readonly string[] Colours = ["red", "blue", "green", "amber", "violet", "silver", "orange", "teal"];
    private static readonly string[] Topics = ["travel", "remote work", "parental leave", "equipment", "training budget", "overtime", "security badge", "expense"];

    /// <summary>Attribute → question templates ({0} = entity name); the first two are the training phrasings, the rest unseen.</summary>
    private static readonly Dictionary<(string Kind, string Attribute), string[]> QuestionTemplates = new()
    {
        [("person", "office")] = ["In which office does {0} work?", "Where is {0} based?", "Which city is {0}'s workplace in?"],
        [("person", "team")] = ["Which team is {0} in?", "What team does {0} belong to?", "{0} is a member of which team?"],
        [("person", "role")] = ["What is the job of {0}?", "What does {0} work as?", "What position does {0} hold?"],
        [("person", "extension")] = ["What is the phone extension of {0}?", "Which extension reaches {0}?", "How do I call {0} internally?"],
        [("person", "start year")] = ["When did {0} join?", "In which year did {0} start?", "Since what year has {0} been with the company?"],
        [("office", "floors")] = ["How many floors does the {0} office have?", "What is the number of floors of the {0} office?", "How tall, in floors, is the {0} office?"],
        [("office", "opened")] = ["When did the {0} office open?", "In which year was the {0} office opened?", "Since when has the {0} office existed?"],
        [("office", "manager")] = ["Who manages the {0} office?", "Who is the manager of the {0} office?", "Who runs the {0} office?"],
        [("team", "lead")] = ["Who leads the {0} team?", "Who is the lead of the {0} team?", "Who heads the {0} team?"],
        [("team", "product")] = ["Which product does the {0} team build?", "What does the {0} team work on?", "The {0} team is responsible for which product?"],
        [("team", "room")] = ["Which room does the {0} team meet in?", "Where does the {0} team hold its meetings?", "What is the meeting room of the {0} team?"],
        [("product", "launch year")] = ["When was {0} launched?", "In which year did {0} launch?", "What year did {0} come out?"],
        [("product", "price")] = ["How much does {0} cost?", "What is the price of {0}?", "What do customers pay for {0}?"],
        [("product", "colour")] = ["What colour is the {0} logo?", "Which colour does the {0} logo have?", "The logo of {0} is which colour?"],
        [("policy", "limit")] = ["How many days does the {0} allow?", "What is the limit of the {0}?", "Up to how many days does the {0} permit?"],
        [("policy", "approver")] = ["Who approves requests under the {0}?", "Who must sign off on the {0}?", "Whose approval does the {0} require?"],
    };

    /// <summary>Sentence templates per attribute ({0} = name, {1} = value); documents pick one per fact.</summary>
    private static readonly Dictionary<(string Kind, string Attribute), string[]> SentenceTemplates = new()
    {
        [("person", "office")] = ["{0} works in the {1} office.", "{0} is based in {1}.", "The workplace of {0} is the {1} office."],
        [("person", "team")] = ["{0} is a member of the {1} team.", "{0} belongs to the {1} team.", "{0} works on the {1} team."],
        [("person", "role")] = ["{0} works as {2} {1}.", "{0} is employed as {2} {1}.", "The job of {0} is {1}."],
        [("person", "extension")] = ["The phone extension of {0} is {1}.", "{0} can be reached on extension {1}.", "Call extension {1} to reach {0}."],
        [("person", "start year")] = ["{0} joined in {1}.", "{0} started with the company in {1}.", "{0} has been with the company since {1}."],
        [("office", "floors")] = ["The {0} office has {1} floors.", "The building of the {0} office counts {1} floors.", "There are {1} floors in the {0} office."],
        [("office", "opened")] = ["The {0} office opened in {1}.", "The {0} office was opened in {1}.", "Since {1} the {0} office has been open."],
        [("office", "manager")] = ["The {0} office is managed by {1}.", "{1} manages the {0} office.", "The manager of the {0} office is {1}."],
        [("team", "lead")] = ["The {0} team is led by {1}.", "{1} leads the {0} team.", "The lead of the {0} team is {1}."],
        [("team", "product")] = ["The {0} team builds {1}.", "{1} is built by the {0} team.", "The {0} team is responsible for {1}."],
        [("team", "room")] = ["The {0} team meets in room {1}.", "Meetings of the {0} team take place in room {1}.", "Room {1} is where the {0} team meets."],
        [("product", "launch year")] = ["{0} was launched in {1}.", "{0} launched in {1}.", "{0} first came out in {1}."],
        [("product", "price")] = ["{0} costs {1}.", "The price of {0} is {1}.", "Customers pay {1} for {0}."],
        [("product", "colour")] = ["The {0} logo is {1}.", "{0} has a {1} logo.", "The logo of {0} is {1}."],
        [("policy", "limit")] = ["The {0} allows up to {1}.", "Under the {0}, the limit is {1}.", "The {0} permits at most {1}."],
        [("policy", "approver")] = ["Requests under the {0} are approved by the {1}.", "The {1} approves requests under the {0}.", "The {0} requires approval by the {1}."],
    };

    /// <summary>Unanswerable question templates ({0} = an entity name of the kind; the attribute is recorded nowhere).</summary>
    private static readonly Dictionary<string, string[]> MissingTemplates = new()
    {
        ["person"] = ["What is the salary of {0}?", "How old is {0}?", "What is the home address of {0}?"],
        ["office"] = ["What is the rent of the {0} office?", "How many parking spaces does the {0} office have?", "What is the postcode of the {0} office?"],
        ["product"] = ["How many customers does {0} have?", "What is the revenue of {0}?", "How many units of {0} were sold?"],
    };

    /// <summary>Question templates ({0} = person) that are training (0..1) and unseen (2) phrasings, per multi-hop/comparison form.</summary>
    private static readonly string[] CompareStart = ["Who joined earlier, {0} or {1}?", "Which of {0} and {1} started first?", "Between {0} and {1}, who has been with the company longer?"];
    private static readonly string[] HopOfficeOfLead = ["In which office does the lead of the {0} team work?", "Where is the lead of the {0} team based?", "Which city is the workplace of the person who leads the {0} team in?"];

    /// <summary>Number of training phrasings per template list (the rest are unseen).</summary>
    public const int TrainPhrasings = 2;

    /// <summary>Builds the world of <paramref name="options"/>.</summary>
    public static LabWorldData Generate(LabWorldOptions? options = null)
    {
        var o = (options ?? new LabWorldOptions()).Validate();
        var random = new Random(o.Seed);
        var usedNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string Word(int syllables) => WordOf(random, syllables);
        string Unique(Func<string> make)
        {
            for (int attempt = 0; ; attempt++)
            {
                var name = make();
                // Names are unique as whole words too, so a private name never shares a word with a public one.
                var words = name.Split(' ');
                if (words.All(w => !usedNames.Contains(w)) && !usedNames.Contains(name))
                {
                    foreach (var w in words) usedNames.Add(w);
                    usedNames.Add(name);
                    return name;
                }
                if (attempt > 10000) throw new InvalidOperationException("name space exhausted");
            }
        }
        // Shared vocabulary words never become names.
        foreach (var w in Roles.Concat(Colours).Concat(Topics.SelectMany(t => t.Split(' ')))) usedNames.Add(w);

        var entities = new List<LabEntity>();
        var (publicEntities, _) = Company("pub", o.PublicPeople, LabPart.Public, Word, Unique, random, entities);
        var (privateEntities, _) = Company("prv", o.PrivatePeople, LabPart.Private, Word, Unique, random, entities);
        // Held-out public entities: a seeded share of the public people, products and policies (offices and teams stay, they are referenced).
        var heldRandom = new Random(Seeds(o.Seed, 11));
        var held = publicEntities.Where(e => e.Kind is "person" or "product" or "policy").Where(_ => heldRandom.NextDouble() < o.PublicHeldOut).Select(e => e.Id).ToHashSet();
        for (int i = 0; i < entities.Count; i++)
            if (held.Contains(entities[i].Id)) entities[i] = entities[i] with { Part = LabPart.PublicHeldOut };
        var byId = entities.ToDictionary(e => e.Id);

        var docRandom = new Random(Seeds(o.Seed, 23));
        var documents = entities.ToDictionary(e => e.Id, e => Render(e, docRandom));

        // The change set: a share of private person/product/policy facts get a new value; their documents are rendered again.
        var changeRandom = new Random(Seeds(o.Seed, 37));
        var changed = new List<LabEntity>();
        var changedFacts = new List<(LabEntity Entity, string Attribute)>();
        foreach (var e in entities.Where(e => e.Part == LabPart.Private && e.Kind is "person" or "product" or "policy"))
        {
            var facts = e.Facts.ToList();
            bool any = false;
            for (int f = 0; f < facts.Count; f++)
            {
                if (!Changeable(e.Kind, facts[f].Attribute) || changeRandom.NextDouble() >= o.ChangeFraction) continue;
                var cities = entities.Where(c => c.Kind == "office" && c.Part == LabPart.Private && c.Name != facts[f].Value).Select(c => c.Name).ToList();
                facts[f] = facts[f] with
                {
                    Value = facts[f].Attribute == "office" ? cities[changeRandom.Next(cities.Count)] : NewValue(e.Kind, facts[f].Attribute, facts[f].Value, changeRandom),
                };
                changedFacts.Add((e, facts[f].Attribute));
                any = true;
            }
            if (any) changed.Add(e with { Facts = facts });
        }
        var changedDocs = changed.Select(e =>
        {
            var old = documents[e.Id];
            return Render(e, new Random(Seeds(o.Seed, 41, Shared.Seeds.Of(e.Id))), old.Style);
        }).ToList();
        var changedById = changed.ToDictionary(e => e.Id);

        var qRandom = new Random(Seeds(o.Seed, 53));
        List<LabQuestion> Questions(LabPart part, string prefix)
        {
            var list = new List<LabQuestion>();
            var own = entities.Where(e => e.Part == part).ToList();
            foreach (var e in own)
                foreach (var f in e.Facts)
                {
                    var templates = QuestionTemplates[(e.Kind, f.Attribute)];
                    int train = qRandom.Next(TrainPhrasings);
                    list.Add(new LabQuestion($"{prefix}-{e.Id}-{Slug(f.Attribute)}", string.Format(CultureInfo.InvariantCulture, templates[train], e.Name), f.Value,
                        documents[e.Id].Path, "single", "train", e.Id, f.Attribute));
                    list.Add(new LabQuestion($"{prefix}-{e.Id}-{Slug(f.Attribute)}-u", string.Format(CultureInfo.InvariantCulture, templates[TrainPhrasings + qRandom.Next(templates.Length - TrainPhrasings)], e.Name), f.Value,
                        documents[e.Id].Path, "single", "unseen", e.Id, f.Attribute));
                }
            // Comparisons between people of the part (answer: the one who joined earlier; source: that person's document).
            var people = own.Where(e => e.Kind == "person").ToList();
            for (int i = 0; i + 1 < people.Count; i += 2)
            {
                var (a, b) = (people[i], people[i + 1]);
                int ya = int.Parse(a.Get("start year"), CultureInfo.InvariantCulture), yb = int.Parse(b.Get("start year"), CultureInfo.InvariantCulture);
                if (ya == yb) continue;
                var first = ya < yb ? a : b;
                for (int p = 0; p < 2; p++)
                {
                    var t = p == 0 ? CompareStart[qRandom.Next(TrainPhrasings)] : CompareStart[TrainPhrasings];
                    list.Add(new LabQuestion($"{prefix}-cmp-{a.Id}-{b.Id}{(p == 0 ? "" : "-u")}", string.Format(CultureInfo.InvariantCulture, t, a.Name, b.Name), first.Name,
                        documents[first.Id].Path, "comparison", p == 0 ? "train" : "unseen", first.Id, "start year"));
                }
            }
            // Multi-hop: the office of a team's lead (team → lead → office); the source is the lead's document.
            foreach (var team in entities.Where(e => e.Kind == "team"))
            {
                var lead = entities.FirstOrDefault(e => e.Kind == "person" && e.Name == team.Get("lead") && e.Part == part);
                if (lead is null) continue;
                for (int p = 0; p < 2; p++)
                {
                    var t = p == 0 ? HopOfficeOfLead[qRandom.Next(TrainPhrasings)] : HopOfficeOfLead[TrainPhrasings];
                    list.Add(new LabQuestion($"{prefix}-hop-{team.Id}{(p == 0 ? "" : "-u")}", string.Format(CultureInfo.InvariantCulture, t, team.Name), lead.Get("office"),
                        documents[lead.Id].Path, "multi-hop", p == 0 ? "train" : "unseen", lead.Id, "office"));
                }
            }
            // Unanswerable: attributes recorded nowhere, about real entities of the part.
            foreach (var e in own.Where(e => MissingTemplates.ContainsKey(e.Kind)).Where((_, i) => i % 4 == 0))
            {
                var templates = MissingTemplates[e.Kind];
                for (int p = 0; p < 2; p++)
                {
                    var t = p == 0 ? templates[qRandom.Next(TrainPhrasings)] : templates[TrainPhrasings];
                    list.Add(new LabQuestion($"{prefix}-none-{e.Id}{(p == 0 ? "" : "-u")}", string.Format(CultureInfo.InvariantCulture, t, e.Name), null, null,
                        "unanswerable", p == 0 ? "train" : "unseen", e.Id, "missing"));
                }
            }
            return list;
        }
        var publicQ = Questions(LabPart.Public, "pub");
        var heldQ = Questions(LabPart.PublicHeldOut, "held");
        var privateQ = Questions(LabPart.Private, "prv");
        var changedQ = new List<LabQuestion>();
        foreach (var (e, attribute) in changedFacts)
        {
            var now = changedById[e.Id];
            foreach (var q in privateQ.Where(q => q.EntityId == e.Id && q.Attribute == attribute && q.Type == "single"))
                changedQ.Add(q with { Id = q.Id + "-changed", Answer = now.Get(attribute) });
        }

        // The reading-drill company, drawn last from its own seeds so the other parts are the same with or without it; its
        // names are unique against every other part (the same name set).
        var drillDocs = new List<LabDocument>();
        var drillQ = new List<LabQuestion>();
        if (o.DrillPeople > 0)
        {
            var drillRandom = new Random(Seeds(o.Seed, 71));
            var drillEntities = new List<LabEntity>();
            Company("drl", o.DrillPeople, LabPart.Drill, n => WordOf(drillRandom, n), Unique, drillRandom, drillEntities);
            var drillDocRandom = new Random(Seeds(o.Seed, 73));
            var drillQRandom = new Random(Seeds(o.Seed, 79));
            foreach (var e in drillEntities)
            {
                var doc = Render(e, drillDocRandom);
                drillDocs.Add(doc);
                foreach (var f in e.Facts)
                {
                    var templates = QuestionTemplates[(e.Kind, f.Attribute)];
                    drillQ.Add(new LabQuestion($"drl-{e.Id}-{Slug(f.Attribute)}", string.Format(CultureInfo.InvariantCulture, templates[drillQRandom.Next(TrainPhrasings)], e.Name),
                        f.Value, doc.Path, "single", "train", e.Id, f.Attribute));
                }
            }
            entities.AddRange(drillEntities);
        }

        return new LabWorldData(o, entities,
            entities.Where(e => e.Part == LabPart.Public).Select(e => documents[e.Id]).ToList(),
            entities.Where(e => e.Part == LabPart.PublicHeldOut).Select(e => documents[e.Id]).ToList(),
            entities.Where(e => e.Part == LabPart.Private).Select(e => documents[e.Id]).ToList(),
            changedDocs, publicQ, heldQ, privateQ, changedQ)
        {
            DrillDocuments = drillDocs, DrillQuestions = drillQ,
        };
    }

    private static string WordOf(Random random, int syllables)
    {
        var sb = new StringBuilder();
        for (int s = 0; s < syllables; s++) sb.Append(Onsets[random.Next(Onsets.Length)]).Append(Vowels[random.Next(Vowels.Length)]);
        sb.Append(Codas[random.Next(Codas.Length)]);
        return char.ToUpperInvariant(sb[0]) + sb.ToString(1, sb.Length - 1);
    }

    private static bool Changeable(string kind, string attribute) => (kind, attribute) is ("person", "office") or ("person", "extension") or ("person", "role")
        or ("product", "price") or ("policy", "limit") or ("policy", "approver");

    private static string NewValue(string kind, string attribute, string old, Random random)
    {
        for (; ; )
        {
            var v = (kind, attribute) switch
            {
                ("person", "extension") => random.Next(1000, 10000).ToString(CultureInfo.InvariantCulture),
                ("person", "role") => Roles[random.Next(Roles.Length)],
                ("product", "price") => $"{random.Next(2, 100) * 10} euros",
                ("policy", "limit") => $"{random.Next(2, 40)} days",
                ("policy", "approver") => Roles[random.Next(Roles.Length)] + " lead",
                _ => null,
            };
            if (v is null) throw new InvalidOperationException($"no new value for {kind} {attribute}");
            if (v != old) return v;
        }
    }

    /// <summary>One company's entities (appended to <paramref name="all"/>) and its office cities.</summary>
    private static (List<LabEntity> Entities, List<string> Cities) Company(string prefix, int peopleCount, LabPart part, Func<int, string> word, Func<Func<string>, string> unique,
        Random random, List<LabEntity> all)
    {
        int offices = Math.Max(3, peopleCount / 12), teams = Math.Max(3, peopleCount / 8), policies = Math.Max(3, Math.Min(Topics.Length, peopleCount / 10));
        var cities = Enumerable.Range(0, offices).Select(_ => unique(() => word(2) + (random.Next(3) == 0 ? "ford" : random.Next(2) == 0 ? "holm" : "port"))).ToList();
        var people = Enumerable.Range(0, peopleCount).Select(_ => unique(() => word(1 + random.Next(2)) + " " + word(2))).ToList();
        var teamNames = Enumerable.Range(0, teams).Select(_ => unique(() => word(2))).ToList();
        var products = Enumerable.Range(0, teams).Select(_ => unique(() => word(2) + (random.Next(2) == 0 ? "ly" : "io"))).ToList();
        var company = new List<LabEntity>();
        var office = new string[peopleCount];
        var team = new string[peopleCount];
        for (int i = 0; i < peopleCount; i++)
        {
            office[i] = cities[random.Next(offices)];
            team[i] = teamNames[random.Next(teams)];
            var role = Roles[random.Next(Roles.Length)];
            company.Add(new LabEntity($"{prefix}-person-{i:D3}", "person", people[i], part,
            [
                new("office", office[i]), new("team", team[i]), new("role", role),
                new("extension", random.Next(1000, 10000).ToString(CultureInfo.InvariantCulture)),
                new("start year", random.Next(1995, 2025).ToString(CultureInfo.InvariantCulture)),
            ]));
        }
        for (int i = 0; i < offices; i++)
            company.Add(new LabEntity($"{prefix}-office-{i:D2}", "office", cities[i], part,
            [
                new("floors", random.Next(2, 40).ToString(CultureInfo.InvariantCulture)), new("opened", random.Next(1960, 2024).ToString(CultureInfo.InvariantCulture)),
                new("manager", people[random.Next(peopleCount)]),
            ]));
        for (int i = 0; i < teams; i++)
        {
            var members = Enumerable.Range(0, peopleCount).Where(p => team[p] == teamNames[i]).ToList();
            var lead = members.Count > 0 ? people[members[random.Next(members.Count)]] : people[random.Next(peopleCount)];
            company.Add(new LabEntity($"{prefix}-team-{i:D2}", "team", teamNames[i], part,
                [new("lead", lead), new("product", products[i]), new("room", $"{(char)('A' + random.Next(6))}{random.Next(100, 700)}")]));
        }
        for (int i = 0; i < teams; i++)
            company.Add(new LabEntity($"{prefix}-product-{i:D2}", "product", products[i], part,
            [
                new("launch year", random.Next(2000, 2025).ToString(CultureInfo.InvariantCulture)), new("price", $"{random.Next(2, 100) * 10} euros"),
                new("colour", Colours[random.Next(Colours.Length)]),
            ]));
        var topics = Topics.OrderBy(_ => random.Next()).Take(policies).ToList();
        for (int i = 0; i < policies; i++)
            company.Add(new LabEntity($"{prefix}-policy-{i:D2}", "policy", $"{topics[i]} policy of {cities[0]}", part,
                [new("limit", $"{random.Next(2, 40)} days"), new("approver", Roles[random.Next(Roles.Length)] + " lead")]));
        all.AddRange(company);
        return (company, cities);
    }

    private static readonly Dictionary<string, string> Folders = new() { ["person"] = "people", ["office"] = "offices", ["team"] = "teams", ["product"] = "products", ["policy"] = "policies" };

    private static string Sentence(LabEntity e, LabFact f, Random random)
    {
        var templates = SentenceTemplates[(e.Kind, f.Attribute)];
        var article = f.Value.Length > 0 && "aeiou".Contains(char.ToLowerInvariant(f.Value[0])) ? "an" : "a";
        var s = string.Format(CultureInfo.InvariantCulture, templates[random.Next(templates.Length)], e.Name, f.Value, article);
        return char.ToUpperInvariant(s[0]) + s[1..];
    }

    private static string Title(LabEntity e) => e.Kind switch
    {
        "person" => e.Name,
        "office" => $"The {e.Name} office",
        "team" => $"The {e.Name} team",
        "policy" => char.ToUpperInvariant(e.Name[0]) + e.Name[1..],
        _ => e.Name,
    };

    /// <summary>Renders <paramref name="e"/> in a style (seeded by <paramref name="random"/>, or <paramref name="style"/>).</summary>
    private static LabDocument Render(LabEntity e, Random random, string? style = null)
    {
        style ??= Styles[random.Next(Styles.Count)];
        var folder = Folders[e.Kind];
        var slug = Slug(e.Name);
        var sentences = e.Facts.Select(f => Sentence(e, f, random)).ToList();
        var sb = new StringBuilder();
        string ext = "md";
        switch (style)
        {
            case "policy":
                sb.Append("# ").Append(Title(e)).Append("\n\n").Append(string.Join(' ', sentences)).Append('\n');
                break;
            case "faq":
                sb.Append("# ").Append(Title(e)).Append(" FAQ\n\n");
                for (int i = 0; i < e.Facts.Count; i++)
                {
                    var q = QuestionTemplates[(e.Kind, e.Facts[i].Attribute)][random.Next(TrainPhrasings)];
                    sb.Append("**Q:** ").Append(string.Format(CultureInfo.InvariantCulture, q, e.Name)).Append("\n**A:** ").Append(sentences[i]).Append("\n\n");
                }
                break;
            case "table":
                sb.Append("# ").Append(Title(e)).Append("\n\n| ").Append(Capital(e.Kind)).Append(" | Attribute | Value |\n|---|---|---|\n");
                foreach (var f in e.Facts) sb.Append("| ").Append(e.Name).Append(" | ").Append(f.Attribute).Append(" | ").Append(f.Value).Append(" |\n");
                sb.Append('\n').Append(sentences[0]).Append('\n');
                break;
            case "email":
                ext = "txt";
                sb.Append("From: office@company.example\nTo: all staff\nSubject: About ").Append(Title(e)).Append("\n\nHello all,\n\n")
                    .Append(string.Join(' ', sentences)).Append("\n\nBest regards,\nthe office team\n");
                break;
            default:
                ext = "html";
                sb.Append("<!DOCTYPE html>\n<html><head><title>").Append(WebUtility.HtmlEncode(Title(e))).Append("</title></head><body>\n<h1>")
                    .Append(WebUtility.HtmlEncode(Title(e))).Append("</h1>\n");
                foreach (var s in sentences) sb.Append("<p>").Append(WebUtility.HtmlEncode(s)).Append("</p>\n");
                sb.Append("</body></html>\n");
                break;
        }
        return new LabDocument($"{folder}/{slug}.{ext}", e.Id, style, sb.ToString());
    }

    private static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];

    /// <summary>Lower-case file-name form of a name.</summary>
    public static string Slug(string name) => string.Join('-', name.ToLowerInvariant().Split([' ', '\''], StringSplitOptions.RemoveEmptyEntries));

    private static int Seeds(int seed, params long[] parts) => Shared.Seeds.Mix([seed, .. parts]);

    /// <summary>
    /// Writes the world under <paramref name="directory"/>: public/docs, public/heldout-docs, private/docs, change/docs
    /// (new versions of the changed private documents, same relative paths), the question files (JSONL in the format
    /// <c>openbook eval</c> reads: id, question, answer, source, type, answerable, plus phrasing) and world.json (entities).
    /// Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> Write(LabWorldData world, string directory)
    {
        var files = new List<string>();
        void Docs(string folder, IEnumerable<LabDocument> docs)
        {
            foreach (var d in docs)
            {
                var path = Path.Combine(directory, folder, d.Path.Replace('/', Path.DirectorySeparatorChar));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, d.Text);
                files.Add(path);
            }
        }
        Docs("public/docs", world.PublicDocuments);
        Docs("public/heldout-docs", world.HeldOutDocuments);
        Docs("private/docs", world.PrivateDocuments);
        Docs("change/docs", world.ChangedDocuments);
        if (world.DrillDocuments.Count > 0) Docs("drill/docs", world.DrillDocuments);
        void Questions(string file, IEnumerable<LabQuestion> questions)
        {
            var path = Path.Combine(directory, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllLines(path, questions.Select(QuestionLine));
            files.Add(path);
        }
        Questions("public/questions.jsonl", world.PublicQuestions);
        Questions("public/heldout.questions.jsonl", world.HeldOutQuestions);
        Questions("private/questions.train.jsonl", world.PrivateQuestions.Where(q => q.Phrasing == "train"));
        Questions("private/questions.unseen.jsonl", world.PrivateQuestions.Where(q => q.Phrasing == "unseen"));
        Questions("change/questions.jsonl", world.ChangedQuestions);
        if (world.DrillQuestions.Count > 0) Questions("drill/questions.jsonl", world.DrillQuestions);
        var entitiesPath = Path.Combine(directory, "world.json");
        File.WriteAllText(entitiesPath, JsonSerializer.Serialize(new LabWorldFile(world.Options.Seed, world.Options.PublicPeople, world.Options.PrivatePeople, world.Options.PublicHeldOut,
            world.Options.ChangeFraction, world.Options.DrillPeople, [.. world.Entities.Select(e => new LabWorldFileEntity(e.Id, e.Kind, e.Name, e.Part.ToString(), e.Facts.ToDictionary(f => f.Attribute, f => f.Value)))]),
            new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        files.Add(entitiesPath);
        return files;
    }

    /// <summary>One question as a JSONL line of the question-set format.</summary>
    public static string QuestionLine(LabQuestion q) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["id"] = q.Id, ["question"] = q.Question, ["answer"] = q.Answer, ["source"] = q.Source, ["type"] = q.Type, ["answerable"] = q.Answer is not null,
        ["phrasing"] = q.Phrasing,
    });
}

/// <summary><c>world.json</c> of a lab world: its options and every entity with its facts.</summary>
internal sealed record LabWorldFile(int Seed, int PublicPeople, int PrivatePeople, double PublicHeldOut, double ChangeFraction, int DrillPeople, IReadOnlyList<LabWorldFileEntity> Entities);

/// <summary>An entity of <see cref="LabWorldFile"/>.</summary>
internal sealed record LabWorldFileEntity(string Id, string Kind, string Name, string Part, IReadOnlyDictionary<string, string> Facts);
