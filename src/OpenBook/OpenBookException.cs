namespace OpenBook;

/// <summary>
/// An error caused by the user's input or environment (bad file, bad option, missing model), with a message that
/// says what and where. The CLI prints the message without a stack trace and exits non-zero.
/// </summary>
public class OpenBookException(string message, Exception? inner = null) : Exception(message, inner);
