#!/usr/bin/env python3
"""Writes the audit_journal_fuzz seeds into DIR (binary, so made here rather than kept in git):
a journal of two records followed by its zero end, and one whose second append a kill cut
short before its length was stored. Format: src/store/sqlite/audit_journal.h."""
import struct, sys

def record(seq, prev, digest, patients, event):
    body = struct.pack('<qq', seq, 1_700_000_000_000_000 + seq) + prev + digest
    body += struct.pack('<I', len(patients))
    for p in patients:
        body += struct.pack('<I', len(p)) + p
    body += struct.pack('<I', len(event)) + event
    return struct.pack('<I', len(body)) + body

first = record(1, b'0' * 64, b'a' * 64, [b'p1'], b'{"i":"read","s":200}')
second = record(2, b'a' * 64, b'b' * 64, [], b'{"i":"create","s":201}')
out = sys.argv[1]
open(f'{out}/two-records', 'wb').write(first + second + b'\0' * 16)
open(f'{out}/cut-short', 'wb').write(first + b'\0' * 4 + second[4:])
