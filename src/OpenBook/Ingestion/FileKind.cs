using System.Runtime.InteropServices;

namespace OpenBook.Ingestion;

/// <summary>What a path is on disk. Only <see cref="Regular"/> files are ever opened for ingestion.</summary>
public enum FileKind
{
    /// <summary>Nothing there (or a dangling link).</summary>
    Missing,
    /// <summary>A regular file.</summary>
    Regular,
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A named pipe: opening it can block forever.</summary>
    Fifo,
    /// <summary>A character device (/dev/zero, a terminal): endless or interactive.</summary>
    CharacterDevice,
    /// <summary>A block device (a disk).</summary>
    BlockDevice,
    /// <summary>A Unix socket.</summary>
    Socket,
    /// <summary>A symbolic link (only when links are not followed).</summary>
    SymbolicLink,
    /// <summary>Something else.</summary>
    Other,
}

/// <summary>File-type probing without opening the file (opening a FIFO blocks), and symlink resolution.</summary>
public static class FileKinds
{
    /// <summary>The kind of <paramref name="path"/>; links are followed unless <paramref name="followLinks"/> is false.</summary>
    public static FileKind Probe(string path, bool followLinks = true)
    {
        if (OperatingSystem.IsLinux() && TryStatx(path, followLinks) is { } kind) return kind;
        // Elsewhere: what .NET can tell (no FIFO/device detection on those systems).
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null) return FileKind.SymbolicLink;
        if (followLinks && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true } and not DirectoryInfo { Exists: true })
            return FileKind.Missing;
        if (Directory.Exists(path)) return FileKind.Directory;
        return info.Exists ? FileKind.Regular : FileKind.Missing;
    }

    /// <summary>A short phrase for a non-regular kind ("a named pipe (FIFO)").</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "a named pipe (FIFO)",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        FileKind.Directory => "a directory",
        FileKind.Missing => "missing (a dangling link?)",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.Regular => "a regular file",
        _ => "not a regular file",
    };

    /// <summary>
    /// The canonical path of an existing <paramref name="path"/> with every symbolic link resolved (POSIX
    /// <c>realpath</c>), or null when it cannot be resolved. On Windows: the full path with the final link resolved.
    /// </summary>
    public static string? RealPath(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            var p = realpath(path, IntPtr.Zero);
            if (p == IntPtr.Zero) return null;
            try { return Marshal.PtrToStringUTF8(p); }
            finally { free(p); }
        }
        var full = Path.GetFullPath(path);
        FileSystemInfo info = Directory.Exists(full) ? new DirectoryInfo(full) : new FileInfo(full);
        if (!info.Exists) return null;
        return info.LinkTarget is null ? full : info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or lies below it (both canonical).</summary>
    public static bool IsUnder(string path, string root)
    {
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        root = Path.TrimEndingDirectorySeparator(root);
        return path.Equals(root, comparison) || path.StartsWith(root + Path.DirectorySeparatorChar, comparison)
               || (root.Length > 0 && root[^1] == Path.DirectorySeparatorChar && path.StartsWith(root, comparison));
    }

    private static FileKind FromMode(uint mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Directory,
        0x1000 => FileKind.Fifo,
        0x2000 => FileKind.CharacterDevice,
        0x6000 => FileKind.BlockDevice,
        0xC000 => FileKind.Socket,
        0xA000 => FileKind.SymbolicLink,
        _ => FileKind.Other,
    };

    // statx(2): its struct layout is the same on every Linux architecture (unlike struct stat).
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, StatxType = 0x1, Enoent = 2, Enotdir = 20, Eloop = 40;

    private static unsafe FileKind? TryStatx(string path, bool followLinks)
    {
        var buffer = stackalloc byte[256];
        int rc;
        try { rc = statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, buffer); }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return null; }
        if (rc != 0)
            return Marshal.GetLastPInvokeError() is Enoent or Enotdir or Eloop ? FileKind.Missing : null;
        return FromMode(*(ushort*)(buffer + 28)); // stx_mode
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "statx")]
    private static extern unsafe int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);

    [DllImport("libc", SetLastError = true, EntryPoint = "realpath")]
    private static extern IntPtr realpath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void free(IntPtr p);
}
