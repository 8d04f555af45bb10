#!/usr/bin/env python3
"""Question 4 of the report: one of our proto messages, byte by byte.

It builds a merchstore.db.v1.Order (and a merchstore.log.v1.HttpRequest, our only
message with a fixed-width field), serializes it with Python's protobuf library,
decodes the bytes BY HAND (keys, wire types, varints, lengths, the nested Timestamp,
a little-endian double) and prints an annotated hex dump. Then it checks:

  1. the hand decoding gives exactly the values the protobuf library parses;
  2. Go (report/wire/gowire, using the generated code in gen/go) serializes the same
     message to the same bytes as Python.

Run from the repository root:  .venv/bin/python report/wire/wire_encoding.py
Exit status 0 when every check holds. tests/test_wire_encoding.py runs it in `make test`.
"""

import datetime
import json
import pathlib
import shutil
import struct
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "api-python"))

from merch_api import representations  # noqa: E402  (how the REST API renders an Order)
from merchstore.db.v1 import order_pb2  # noqa: E402  (generated code lives in api-python/)
from merchstore.log.v1 import log_pb2  # noqa: E402

WIRE_TYPES = {0: "VARINT", 1: "I64", 2: "LEN", 5: "I32"}

# The field names and kinds the hand decoder needs, copied from the .proto files on
# purpose: the decoder must not ask the library what the bytes mean.
# field number -> (name, kind); kind is a scalar type or a nested schema name.
SCHEMAS = {
    "merchstore.db.v1.Order": {
        1: ("id", "int32"),
        2: ("user_id", "int32"),
        3: ("product_id", "int32"),
        4: ("quantity", "int32"),
        5: ("total_price_cents", "int64"),
        6: ("status", "enum OrderStatus"),
        7: ("created_at", "google.protobuf.Timestamp"),
        8: ("cancelled_at", "google.protobuf.Timestamp"),
    },
    "google.protobuf.Timestamp": {1: ("seconds", "int64"), 2: ("nanos", "int32")},
    "merchstore.log.v1.HttpRequest": {
        1: ("method", "string"),
        2: ("path", "string"),
        3: ("status", "int32"),
        4: ("latency_ms", "double"),
        5: ("user_id", "optional int32"),
    },
}
ORDER_STATUS = {
    0: "ORDER_STATUS_UNSPECIFIED",
    1: "ORDER_STATUS_PLACED",
    2: "ORDER_STATUS_CANCELLED",
}

CREATED_AT = datetime.datetime(2026, 11, 25, 17, 1, 2, 345678, tzinfo=datetime.UTC)


def sample_order() -> order_pb2.Order:
    """The same values as report/wire/gowire/main.go."""
    order = order_pb2.Order(
        id=42,
        user_id=7,
        product_id=1,
        quantity=3,
        total_price_cents=14997,  # 3 x 49.99
        status=order_pb2.ORDER_STATUS_PLACED,
    )
    order.created_at.FromDatetime(CREATED_AT)
    return order  # cancelled_at unset: a placed order


def sample_http_request() -> log_pb2.HttpRequest:
    return log_pb2.HttpRequest(
        method="POST", path="/orders", status=201, latency_ms=12.5, user_id=7
    )


# --- the hand decoder ----------------------------------------------------------------------


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Base 128, least significant group first; the top bit of a byte says "more follow"."""
    value, shift, start = 0, 0, pos
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
        if pos - start >= 10:
            raise ValueError(f"varint longer than 10 bytes at {start}")


def varint_steps(data: bytes) -> str:
    """How a multi-byte varint adds up, e.g. 0x95 0x75 -> 0x15 + 0x75<<7 = 14997."""
    parts = [f"0x{b & 0x7F:02x}<<{7 * i}" if i else f"0x{b & 0x7F:02x}" for i, b in enumerate(data)]
    return " + ".join(parts)


def decode(data: bytes, schema: str, depth: int = 0, base: int = 0, out=None):
    """Decode data as the message `schema`; return {name: value} and append one
    (offset, bytes, depth, text) line per piece to out."""
    fields, pos = {}, 0
    lines = out if out is not None else []
    while pos < len(data):
        key_start = pos
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 0x07
        name, kind = SCHEMAS[schema].get(number, (f"unknown_{number}", "?"))
        lines.append(
            (
                base + key_start,
                data[key_start:pos],
                depth,
                f"key 0x{key:02x} = field {number} << 3 | wire type {wire_type} "
                f"({WIRE_TYPES.get(wire_type, '?')}): {name}, {kind}",
            )
        )
        value_start = pos
        if wire_type == 0:
            raw, pos = read_varint(data, pos)
            # A negative int32 or int64 is sent as its 64-bit two's complement (10 bytes).
            value = raw - (1 << 64) if raw >> 63 else raw
            text = f"{name} = {value}"
            if pos - value_start > 1:
                text += f"  (varint: {varint_steps(data[value_start:pos])})"
            if kind == "enum OrderStatus":
                value = ORDER_STATUS[raw]
                text = f"{name} = {raw} = {value}"
            lines.append((base + value_start, data[value_start:pos], depth, text))
        elif wire_type == 1:
            raw = data[pos : pos + 8]
            pos += 8
            value = struct.unpack("<d", raw)[0]
            lines.append(
                (
                    base + value_start,
                    raw,
                    depth,
                    f"{name} = {value}  (IEEE 754 double, little-endian)",
                )
            )
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            lines.append((base + value_start, data[value_start:pos], depth, f"length = {length}"))
            payload = data[pos : pos + length]
            if kind in SCHEMAS:
                value = decode(payload, kind, depth + 1, base + pos, lines)
            else:
                value = payload.decode("utf-8")
                lines.append((base + pos, payload, depth, f"{name} = {value!r} (UTF-8)"))
            pos += length
        elif wire_type == 5:
            raw = data[pos : pos + 4]
            pos += 4
            value = struct.unpack("<i", raw)[0]
            lines.append((base + value_start, raw, depth, f"{name} = {value}"))
        else:
            raise ValueError(f"wire type {wire_type} at offset {base + key_start}")
        fields[name] = value
    if pos != len(data):
        raise ValueError("message ends inside a field")
    return fields


def dump(lines) -> str:
    rows = [f"{'offset':>6}  {'bytes':<30}  meaning"]
    for offset, raw, depth, text in lines:
        hexed = " ".join(f"{b:02x}" for b in raw)
        if len(hexed) > 29:
            hexed = hexed[:26] + "..."
        rows.append(f"{offset:>6}  {'  ' * depth + hexed:<30}  {'  ' * depth}{text}")
    return "\n".join(rows)


# --- what the library says ----------------------------------------------------------------


def library_view(message) -> dict:
    """The library's parse of the bytes, in the shape the hand decoder returns: only the
    fields present on the wire (proto3 leaves out zero values and unset messages)."""
    parsed = type(message).FromString(message.SerializeToString())
    out = {}
    for field, value in parsed.ListFields():
        if field.message_type is not None:
            out[field.name] = {f.name: v for f, v in value.ListFields()}
        elif field.enum_type is not None:
            out[field.name] = field.enum_type.values_by_number[value].name
        else:
            out[field.name] = value
    return out


def go_bytes() -> dict[str, bytes]:
    """Run the Go program; {full message name: serialized bytes}."""
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("`go` is not on PATH: cannot compare with Go's encoding")
    run = subprocess.run(
        [go, "run", "."],
        cwd=ROOT / "report/wire/gowire",
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"go run failed:\n{run.stderr}")
    return {
        name: bytes.fromhex(hexed)
        for name, hexed in (line.split() for line in run.stdout.splitlines() if line.strip())
    }


def analyse(message) -> tuple[bytes, dict, str]:
    data = message.SerializeToString(deterministic=True)
    lines = []
    by_hand = decode(data, message.DESCRIPTOR.full_name, out=lines)
    return data, by_hand, dump(lines)


def main() -> int:
    from_go = go_bytes()
    failures = 0
    for message in (sample_order(), sample_http_request()):
        name = message.DESCRIPTOR.full_name
        data, by_hand, text = analyse(message)
        print(f"== {name}: {len(data)} bytes")
        print(data.hex(" "))
        print()
        print(text)
        print()
        library = library_view(message)
        same_values = by_hand == library
        same_bytes = from_go.get(name) == data
        print(f"hand decoding == protobuf library parse: {same_values}")
        go_data = from_go.get(name, b"")
        print(f"Go bytes == Python bytes ({len(go_data)} vs {len(data)} bytes): {same_bytes}")
        if not same_values:
            print(f"  by hand: {by_hand}\n  library: {library}")
        if not same_bytes:
            print(f"  Go:     {go_data.hex(' ')}\n  Python: {data.hex(' ')}")
        failures += (not same_values) + (not same_bytes)
        print()
    as_json = json.dumps(representations.order(sample_order()), separators=(",", ":"))
    print(f"The same order as the REST API's JSON ({len(as_json)} bytes, compact, cut at 100):")
    print("\n".join(as_json[i : i + 100] for i in range(0, len(as_json), 100)) + "\n")
    print("OK: every check holds" if not failures else f"FAILED: {failures} checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
