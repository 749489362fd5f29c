using System.Text;

namespace OpenBook.Ingestion;

/// <summary>
/// RFC 4180 record reader that knows the (1-based) line each record starts on: quoted fields may hold delimiters,
/// doubled quotes and line breaks; CRLF and LF both end a record. Malformed quoting raises
/// <see cref="DocumentLoadException"/> naming the file and line.
/// </summary>
public sealed class CsvRecordReader(string path, TextReader reader, char delimiter, int firstLine = 1)
{
    private int _line = firstLine;

    /// <summary>Longest quoted field (characters): past it the quote is taken as unterminated.</summary>
    public const int MaxQuotedFieldChars = 1 << 20;
    private readonly StringBuilder _field = new();

    /// <summary>Reads the next record; false at the end of the input.</summary>
    public bool TryRead(out List<string> fields, out int startLine)
    {
        fields = [];
        startLine = _line;
        int c = reader.Read();
        if (c < 0) return false;
        while (true)
        {
            _field.Clear();
            if (c == '"')
            {
                int quoteLine = _line;
                while (true)
                {
                    c = reader.Read();
                    if (c < 0) throw new DocumentLoadException(path, quoteLine, "unterminated quoted field");
                    if (_field.Length >= MaxQuotedFieldChars)
                        throw new DocumentLoadException(path, quoteLine, $"quoted field longer than {MaxQuotedFieldChars} characters (an unterminated quote?)");
                    if (c == '\n') _line++;
                    if (c == '"')
                    {
                        if (reader.Peek() == '"') { reader.Read(); _field.Append('"'); continue; }
                        c = reader.Read();
                        break;
                    }
                    _field.Append((char)c);
                }
                if (c == '\r' && reader.Peek() == '\n') c = reader.Read();
                if (c >= 0 && c != delimiter && c != '\n')
                    throw new DocumentLoadException(path, _line, $"unexpected character '{(char)c}' after a closing quote");
            }
            else
            {
                while (c >= 0 && c != delimiter && c != '\n')
                {
                    if (c == '\r' && reader.Peek() == '\n') { c = reader.Read(); break; }
                    _field.Append((char)c);
                    c = reader.Read();
                }
            }
            fields.Add(_field.ToString());
            if (c == delimiter) { c = reader.Read(); if (c < 0) { fields.Add(""); return true; } continue; }
            if (c == '\n') _line++;
            return true;
        }
    }
}
