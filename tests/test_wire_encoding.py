"""The report's byte-by-byte analysis (question 4) is a program; this runs its checks.

report/wire/wire_encoding.py decodes an Order and an HttpRequest by hand. Here: the hand
decoding equals the protobuf library's parse, Go (gen/go) and Python write identical
bytes, and the comparison notices a single changed byte (so a pass means something).
"""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "wire_encoding", ROOT / "report/wire/wire_encoding.py"
)
wire = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wire)

SAMPLES = [wire.sample_order(), wire.sample_http_request()]
IDS = [m.DESCRIPTOR.full_name for m in SAMPLES]


@pytest.mark.parametrize("message", SAMPLES, ids=IDS)
def test_hand_decoding_equals_the_library_parse(message):
    _data, by_hand, _dump = wire.analyse(message)
    assert by_hand == wire.library_view(message)


def test_the_order_bytes_are_the_ones_the_report_explains():
    data, _by_hand, _dump = wire.analyse(wire.sample_order())
    assert data.hex(" ") == (
        "08 2a 10 07 18 01 20 03 28 95 75 30 01 3a 0c 08 ce a8 9c d8 06 10 b0 c1 ea a4 01"
    )


@pytest.fixture(scope="module")
def go_bytes():
    return wire.go_bytes()


@pytest.mark.parametrize("message", SAMPLES, ids=IDS)
def test_go_and_python_write_identical_bytes(message, go_bytes):
    python_bytes, _by_hand, _dump = wire.analyse(message)
    assert go_bytes[message.DESCRIPTOR.full_name] == python_bytes


def test_a_changed_byte_is_noticed():
    order = wire.sample_order()
    data = bytearray(order.SerializeToString())
    data[10] = 0x76  # total_price_cents 0x95 0x75 -> 0x95 0x76: 14997 -> 15125
    by_hand = wire.decode(bytes(data), "merchstore.db.v1.Order")
    assert by_hand["total_price_cents"] == 15125
    assert by_hand != wire.library_view(order)
