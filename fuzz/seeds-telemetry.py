#!/usr/bin/env python3
"""Writes the binary telemetry_fuzz seeds into DIR (the text ones are in fuzz/seeds-telemetry/).
The first byte picks the decoder (see telemetry_fuzz.cc): 0x01 a Gorilla block, 0x03 a stored
block (telemetry/block.h), 0x07 a pending row (telemetry/pending_row.h). The blocks and rows are
what the store writes: made by its encoders and kept here as hex."""
import sys

seeds = {
    # Version 1 (a bare Gorilla block): 70, 71.5, 71, 72 beats/min.
    'gorilla-v1': (0x01, '010104000000008c1efda1010000a85e21fda1010000c28c085fc75306e1bba1bc09c44580'),
    'block-v1': (0x03, '010104000000008c1efda1010000a85e21fda1010000c28c085fc75306e1bba1bc09c44580'),
    # Version 2 without columns: four temperatures.
    'block-v2-plain': (0x03, '020022010104000000008c1efda1010000204b21fda1010000c294076de3a983903a5bc4f8'),
    # Version 2 with quality (hundredths, one absent, one raw float) and rr on every other reading.
    'block-v2-quality-rr': (0x03, '020326010108000000008c1efda1010000a0f424fda1010000c28c085fc75306e1'
                                  '7d45ad97a8b5b2f40bd6a0c1f85c7bf9ad010a081d05c00c1414141400055314'
                                  '141414000553141414140005531414141400'),
    # A version-2 pending row: heart rate with quality and rr, SpO2 without.
    'pending-v2': (0x07, 'ff0003027031008c1efda101000000000000000052407b146e3f02002c031e03020002'
                         '7032018c1efda10100000000000000405840'),
    # A version-1 pending row: vital, patient length, patient, time, value.
    'pending-v1': (0x07, '0002703100' + '8c1efda1010000' + '0000000000005240'),
}

for name, (selector, hex_bytes) in seeds.items():
    with open(f'{sys.argv[1]}/{name}', 'wb') as f:
        f.write(bytes([selector]) + bytes.fromhex(hex_bytes))
