using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace OpenBook.Retrieval.Vectors;

/// <summary>Streaming XXH64 (Yann Collet's xxHash, 64-bit, seed 0): the checksum of index files.</summary>
internal sealed class XxHash64
{
    private const ulong P1 = 11400714785074694791UL, P2 = 14029467366897019727UL, P3 = 1609587929392839161UL,
        P4 = 9650029242287828579UL, P5 = 2870177450012600261UL;

    private ulong _v1 = unchecked(P1 + P2), _v2 = P2, _v3 = 0, _v4 = unchecked(0 - P1);
    private readonly byte[] _buf = new byte[32];
    private int _bufLen;
    private ulong _total;

    /// <summary>Hash of one buffer.</summary>
    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var h = new XxHash64();
        h.Append(data);
        return h.Digest();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Round(ulong acc, ulong input) => unchecked(BitOperations.RotateLeft(acc + input * P2, 31) * P1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Merge(ulong acc, ulong v) => unchecked((acc ^ Round(0, v)) * P1 + P4);

    public void Append(ReadOnlySpan<byte> data)
    {
        _total += (ulong)data.Length;
        if (_bufLen > 0)
        {
            int take = Math.Min(32 - _bufLen, data.Length);
            data[..take].CopyTo(_buf.AsSpan(_bufLen));
            _bufLen += take;
            data = data[take..];
            if (_bufLen < 32) return;
            Stripe(_buf);
            _bufLen = 0;
        }
        if (data.Length >= 32)
        {
            // locals stay in registers (the fields would be stored back every round)
            ulong v1 = _v1, v2 = _v2, v3 = _v3, v4 = _v4;
            while (data.Length >= 32)
            {
                v1 = Round(v1, BinaryPrimitives.ReadUInt64LittleEndian(data));
                v2 = Round(v2, BinaryPrimitives.ReadUInt64LittleEndian(data[8..]));
                v3 = Round(v3, BinaryPrimitives.ReadUInt64LittleEndian(data[16..]));
                v4 = Round(v4, BinaryPrimitives.ReadUInt64LittleEndian(data[24..]));
                data = data[32..];
            }
            (_v1, _v2, _v3, _v4) = (v1, v2, v3, v4);
        }
        data.CopyTo(_buf);
        _bufLen = data.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Stripe(ReadOnlySpan<byte> s)
    {
        _v1 = Round(_v1, BinaryPrimitives.ReadUInt64LittleEndian(s));
        _v2 = Round(_v2, BinaryPrimitives.ReadUInt64LittleEndian(s[8..]));
        _v3 = Round(_v3, BinaryPrimitives.ReadUInt64LittleEndian(s[16..]));
        _v4 = Round(_v4, BinaryPrimitives.ReadUInt64LittleEndian(s[24..]));
    }

    public ulong Digest()
    {
        unchecked
        {
            ulong h;
            if (_total >= 32)
            {
                h = BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7) + BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18);
                h = Merge(h, _v1); h = Merge(h, _v2); h = Merge(h, _v3); h = Merge(h, _v4);
            }
            else h = _v3 + P5;
            h += _total;
            ReadOnlySpan<byte> r = _buf.AsSpan(0, _bufLen);
            while (r.Length >= 8)
            {
                h ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(r));
                h = BitOperations.RotateLeft(h, 27) * P1 + P4;
                r = r[8..];
            }
            if (r.Length >= 4)
            {
                h ^= BinaryPrimitives.ReadUInt32LittleEndian(r) * P1;
                h = BitOperations.RotateLeft(h, 23) * P2 + P3;
                r = r[4..];
            }
            foreach (byte b in r)
            {
                h ^= b * P5;
                h = BitOperations.RotateLeft(h, 11) * P1;
            }
            h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
            return h;
        }
    }
}
