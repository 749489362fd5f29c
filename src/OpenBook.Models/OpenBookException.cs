namespace OpenBook.Models;

/// <summary>
/// A problem with a model, a model file, a dataset or a training run that the user can fix (a bad file, a missing
/// field, an unsupported setting): the message is one line naming the file and field at fault.
/// (The engine's own exception type: OpenBook.Models does not reference the core, whose exception has the same name.)
/// </summary>
public class OpenBookException(string message, Exception? inner = null) : Exception(message, inner);
