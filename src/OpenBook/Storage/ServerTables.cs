namespace OpenBook.Storage;

/// <summary>
/// Schema step v2: the tables of the chat server (<c>openbook serve</c>) — API keys (only SHA-256 hashes of the keys),
/// conversations with their messages, and the background ingestion jobs. Kept apart from the document tables: nothing
/// here is read by search.
/// </summary>
internal static class ServerTables
{
    public const string Migration = """
        CREATE TABLE api_keys(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            groups TEXT NOT NULL DEFAULT '[]',
            scopes TEXT NOT NULL DEFAULT '[]',
            created_at INTEGER NOT NULL,
            revoked_at INTEGER NULL);
        CREATE TABLE conversations(
            id TEXT PRIMARY KEY,
            owner INTEGER NOT NULL,
            title TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL);
        CREATE INDEX conversations_owner ON conversations(owner, updated_at);
        CREATE TABLE conversation_messages(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            retrieval_query TEXT NULL,
            found INTEGER NULL,
            citations TEXT NOT NULL DEFAULT '[]',
            created_at INTEGER NOT NULL);
        CREATE INDEX conversation_messages_conversation ON conversation_messages(conversation_id, id);
        CREATE TABLE ingest_jobs(
            id TEXT PRIMARY KEY,
            owner INTEGER NOT NULL,
            status TEXT NOT NULL,
            collection TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',
            acl TEXT NOT NULL DEFAULT '[]',
            directory TEXT NOT NULL,
            files TEXT NOT NULL DEFAULT '[]',
            report TEXT NULL,
            error TEXT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL);
        """;
}
