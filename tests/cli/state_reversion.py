#!/usr/bin/env python3
"""Rewrites a state file's format number and makes its checksum good again (exfilscan's
hash_bytes, include/exfilscan/hash.h and src/hash.cpp; the checksum is not keyed): a state whose
contents do not match its format, for tests/cli/input_faults.sh.

    state_reversion.py STATE OUT VERSION
"""
import struct
import sys

M = (1 << 64) - 1
K0, K1, K2, K3 = 0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3


def fold(a, b):
    r = (a & M) * (b & M)
    return (r & M) ^ (r >> 64)


def read64(b, i):
    return struct.unpack_from("<Q", b, i)[0]


def finish(a, b, seed, n):
    a ^= K1
    b ^= seed
    a = fold(a, b)
    return fold(a ^ K0 ^ n, b ^ K1)


def hash_bytes(s, seed=0):
    """hash_bytes for inputs over 16 bytes (a state always is)."""
    n = len(s)
    assert n > 16
    seed ^= K0 ^ fold(seed ^ K0, K1)
    p, i = 0, n
    if i > 48:
        s1 = s2 = seed
        while True:
            seed = fold(read64(s, p) ^ K1, read64(s, p + 8) ^ seed)
            s1 = fold(read64(s, p + 16) ^ K2, read64(s, p + 24) ^ s1)
            s2 = fold(read64(s, p + 32) ^ K3, read64(s, p + 40) ^ s2)
            p += 48
            i -= 48
            if i <= 48:
                break
        seed ^= s1 ^ s2
    while i > 16:
        seed = fold(read64(s, p) ^ K1, read64(s, p + 8) ^ seed)
        p += 16
        i -= 16
    return finish(read64(s, p + i - 16), read64(s, p + i - 8), seed, n)


def main():
    data = bytearray(open(sys.argv[1], "rb").read())
    if read64(data, len(data) - 8) != hash_bytes(bytes(data[:-8])):
        sys.exit("state_reversion.py: the checksum does not match: hash_bytes has changed")
    struct.pack_into("<I", data, 8, int(sys.argv[3]))
    struct.pack_into("<Q", data, len(data) - 8, hash_bytes(bytes(data[:-8])))
    open(sys.argv[2], "wb").write(data)


main()
