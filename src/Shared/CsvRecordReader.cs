using System.Text;

namespace OpenBook.Shared;

/// <summary>
/// RFC 4180 record reader that knows the (1-based) line each record starts on: quoted fields may hold delimiters,
/// doubled quotes and line breaks; CRLF and LF both end a record. Malformed quoting raises
/// <see cref="CsvFormatException"/> with the line. Compiled into both the core and the engine (a linked source file).
/// </summary>
internal sealed class CsvRecordReader(TextReader reader, char delimiter)
{
    private int _line = 1;
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
                    if (c < 0) throw new CsvFormatException(quoteLine, "unterminated quoted field");
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
                    throw new CsvFormatException(_line, $"unexpected character '{(char)c}' after a closing quote");
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

/// <summary>Malformed CSV quoting at a (1-based) line.</summary>
internal sealed class CsvFormatException(int line, string problem) : FormatException($"line {line}: {problem}")
{
    /// <summary>The line of the problem.</summary>
    public int Line { get; } = line;
    /// <summary>What is wrong, without the line.</summary>
    public string Problem { get; } = problem;
}
