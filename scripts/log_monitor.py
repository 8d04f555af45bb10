#!/usr/bin/env python3
"""Follows the store's log topic in Kafka and prints one aligned line per record.

For the administrator: which requests ran, how they ended, what the DB service did for
them. Reads through Kafka's external listener and commits nothing, so it never disturbs
other readers.

    scripts/log_monitor.py                          # new records as they come
    scripts/log_monitor.py --from-beginning --level WARNING
    scripts/log_monitor.py --request-id 3f2a... --from-beginning --max-records 2 --timeout 10

Delivery is at-least-once: a record can be in the topic twice. Both copies carry one
event_id, and the monitor prints the first only (it remembers the ids of the last
--dedup-window records it printed; records without an event_id, older than the field, are
all printed).

Environment: KAFKA_BOOTSTRAP (default 127.0.0.1:9093), KAFKA_TOPIC (default log-channel).
Exit status: 0; 1 when Kafka or the topic cannot be reached, or when --max-records records
were asked for and --timeout ran out first.
"""

import argparse
import json
import os
import sys
import time
import uuid
from collections import deque

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# (header, width, shorten) of every column but the last (message), which takes what is
# left. A request id is never shortened: it is what one copies into --request-id.
COLUMNS = (
    ("TIME (UTC)", 23, True),
    ("LEVEL", 7, True),
    ("SERVICE/INSTANCE", 16, True),
    ("REQUEST ID", 36, False),
    ("USER", 6, True),
    ("HTTP", 36, True),
)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP")
        or f"127.0.0.1:{os.environ.get('KAFKA_EXTERNAL_PORT', '9093')}",
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP, else 127.0.0.1 at "
        "KAFKA_EXTERNAL_PORT, 9093)",
    )
    parser.add_argument(
        "--topic",
        default=os.environ.get("KAFKA_TOPIC", "log-channel"),
        help="topic to follow (default: KAFKA_TOPIC or log-channel)",
    )
    parser.add_argument(
        "--level",
        type=str.upper,
        choices=LEVELS,
        default="DEBUG",
        help="show records of this level and above",
    )
    parser.add_argument("--service", choices=("api", "db"), help="only this service's records")
    parser.add_argument("--request-id", help="only the records of this request")
    parser.add_argument("--user", type=int, metavar="USER_ID", help="only this user's requests")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start with the oldest record kept, not with the next new one",
    )
    parser.add_argument(
        "--max-records", type=int, metavar="N", help="exit after printing N records"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="exit after this many seconds"
    )
    parser.add_argument(
        "--dedup-window",
        type=int,
        default=100_000,
        metavar="N",
        help="drop a record whose event_id was among the last N printed (default 100000)",
    )
    args = parser.parse_args(argv)
    if args.dedup_window < 1:
        parser.error("--dedup-window must be at least 1")
    if args.max_records is not None and args.max_records < 1:
        parser.error("--max-records must be at least 1")
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


class Malformed(Exception):
    pass


class RecentIds:
    """The last `size` event ids seen, in bounded memory: a copy of a record comes soon
    after the original (the producer resends a batch it got no answer for), not days
    later, so remembering the recent ones catches the copies."""

    def __init__(self, size):
        self._order = deque()
        self._ids = set()
        self._size = size

    def seen_before(self, event_id):
        """Whether event_id is among the recent ones; remembers it if not."""
        if event_id in self._ids:
            return True
        if len(self._order) == self._size:
            self._ids.discard(self._order.popleft())
        self._order.append(event_id)
        self._ids.add(event_id)
        return False


def decode(value):
    """The record as a dict with the fields we print, or Malformed saying what is wrong."""
    try:
        record = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Malformed(f"not JSON ({error})") from None
    if not isinstance(record, dict):
        raise Malformed("not a JSON object")
    missing = [k for k in ("ts", "level", "service", "request_id", "message") if k not in record]
    if missing:
        raise Malformed(f"missing {', '.join(missing)}")
    if record["level"] not in LEVELS:
        raise Malformed(f"unknown level {record['level']!r}")
    if not isinstance(record.get("event_id", ""), str):
        raise Malformed("event_id is not a string")
    return record


def wanted(record, args):
    if LEVELS.index(record["level"]) < LEVELS.index(args.level):
        return False
    if args.service and record["service"] != args.service:
        return False
    if args.request_id and record["request_id"] != args.request_id:
        return False
    return args.user is None or record.get("user_id") == args.user


def printable(value):
    """str(value) with control characters written as escapes: a record is the producer's
    text, and an ESC or a carriage return in it would work on the terminal."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def fit(text, width, shorten):
    text = printable(text)
    if shorten and len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


def http_summary(record):
    if "method" not in record:
        return ""
    latency = record.get("latency_ms")
    latency = f"{latency:.1f}ms" if isinstance(latency, int | float) else "?"
    return f"{record['method']} {record.get('path', '?')} {record.get('status', '?')} {latency}"


def line(cells):
    fixed = "  ".join(
        fit(cell, width, shorten)
        for cell, (_, width, shorten) in zip(cells[:-1], COLUMNS, strict=True)
    )
    return f"{fixed}  {printable(cells[-1])}"


def format_record(record):
    ts = str(record["ts"]).replace("T", " ").removesuffix("Z")
    user = record.get("user_id")
    where = record["service"] + (f"/{record['instance']}" if record.get("instance") else "")
    return line(
        (
            ts,
            record["level"],
            where,
            record["request_id"],
            "-" if user is None else user,
            http_summary(record),
            record["message"],
        )
    )


def open_consumer(args):
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            # A group of its own that commits nothing: reading does not move anyone's offsets.
            "group.id": f"log-monitor-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        metadata = consumer.list_topics(args.topic, timeout=10)
    except KafkaException as error:
        consumer.close()
        raise SystemExit(
            f"log_monitor: Kafka at {args.bootstrap} does not answer: {error}"
        ) from None
    topic = metadata.topics.get(args.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        consumer.close()
        raise SystemExit(
            f"log_monitor: topic {args.topic} not found at {args.bootstrap} "
            "(is the store up? use --topic or KAFKA_TOPIC for another topic)"
        )
    start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
    consumer.assign([TopicPartition(args.topic, p, start) for p in sorted(topic.partitions)])
    return consumer


def follow(args, out=sys.stdout, err=sys.stderr):
    consumer = open_consumer(args)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    printed = duplicates = 0
    recent = RecentIds(args.dedup_window)
    print(line([header for header, _, _ in COLUMNS] + ["MESSAGE"]), file=out, flush=True)
    try:
        while args.max_records is None or printed < args.max_records:
            if deadline is not None and time.monotonic() >= deadline:
                break
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                print(f"log_monitor: {message.error()}", file=err, flush=True)
                continue
            try:
                record = decode(message.value())
            except Malformed as error:
                print(
                    f"log_monitor: skipping malformed record at partition {message.partition()} "
                    f"offset {message.offset()}: {error}: {message.value()[:120]!r}",
                    file=err,
                    flush=True,
                )
                continue
            if not wanted(record, args):
                continue
            event_id = record.get("event_id")
            if event_id is not None and recent.seen_before(event_id):
                duplicates += 1
                continue
            print(format_record(record), file=out, flush=True)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if duplicates:
        print(f"log_monitor: skipped {duplicates} duplicate record(s) (same event_id)", file=err)
    if args.max_records is not None and printed < args.max_records:
        print(
            f"log_monitor: {printed} of {args.max_records} records within {args.timeout} s",
            file=err,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(follow(parse_args(sys.argv[1:])))
