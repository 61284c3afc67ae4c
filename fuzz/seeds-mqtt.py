#!/usr/bin/env python3
"""Writes the mqtt_fuzz seeds into DIR (binary, so made here rather than kept in git): what a
broker sends a subscriber, one stream of packets per file (OASIS MQTT 3.1.1 sections 2 and 3),
well-formed sessions and the malformed packets the subscriber must refuse."""
import sys


def length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + length(len(body)) + body


def string(s):
    return len(s).to_bytes(2, 'big') + s


def publish(topic, payload, qos=1, pid=1, dup=False, retain=False):
    body = string(topic) + (pid.to_bytes(2, 'big') if qos else b'') + payload
    return packet(0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0), body)


connack = packet(0x20, b'\x00\x00')
suback = packet(0x90, b'\x00\x01\x01')
reading = b'{"patient":"Patient/p1","device":"Device/d1","code":"8867-4","value":88,"unit":"/min"}'
topic = b'medulla/telemetry/dev-1'

seeds = {
    'session': connack + suback + publish(topic, reading, 1, 1) + publish(topic, reading, 1, 2)
    + packet(0xd0, b''),
    'session-present-redelivery': packet(0x20, b'\x01\x00') + publish(topic, reading, 1, 7, dup=True)
    + suback,
    'connack-refused': packet(0x20, b'\x00\x05'),
    'connack-reserved-flags': packet(0x20, b'\x02\x00'),
    'suback-failure': packet(0x90, b'\x00\x01\x80'),
    'suback-many': packet(0x90, b'\x12\x34\x00\x01\x02\x80'),
    'suback-reserved-code': packet(0x90, b'\x00\x01\x03'),
    'publish-qos0': publish(topic, reading, 0, 0, retain=True),
    'publish-qos2': publish(topic, b'x', 2, 65535),
    'publish-empty-payload': publish(b'a/b', b'', 1, 10),
    'publish-utf8-topic': publish('caf\u00e9/\U0001d11e/\ufeff'.encode(), b'\x00\xff', 1, 3),
    'publish-two-byte-length': publish(topic, b'p' * 300, 1, 4),
    'publish-three-byte-length': publish(topic, b'q' * 20000, 1, 5),
    'publish-split': publish(topic, reading, 1, 1)[:-10],
    'publish-qos3': bytes([0x36]) + publish(topic, b'x', 1, 1)[1:],
    'publish-id0': publish(topic, b'x', 1, 0),
    'publish-wildcard': publish(b'medulla/telemetry/#', b'x', 1, 1),
    'publish-overlong': publish(b'a\xc0\xaf', b'x', 1, 1),
    'publish-surrogate': publish(b'\xed\xa0\x80', b'x', 1, 1),
    'publish-nul': publish(b'a\x00b', b'x', 1, 1),
    'publish-truncated-topic': packet(0x32, b'\x00\x09a/b'),
    'length-five-bytes': b'\x30\xff\xff\xff\xff\x01',
    'length-too-large': b'\x30\xff\xff\xff\x7f',
    'reserved-type': b'\xf0\x00' + b'\x00\x00',
    'pingresp-then-pubrel': packet(0xd0, b'') + packet(0x62, b'\x00\x01'),
}
out = sys.argv[1]
for name, data in seeds.items():
    with open(f'{out}/{name}', 'wb') as f:
        f.write(data)
