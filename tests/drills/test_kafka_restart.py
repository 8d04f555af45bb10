"""Kafka stopped and started again while customers browse: the REST answers do not
depend on Kafka, and the records of the outage reach log-channel afterwards."""

import time

import pytest
from drills.support import Bystanders, Load, summary


# The long variant keeps Kafka away longer than the logging service's write timeout.
@pytest.mark.parametrize("outage_seconds", [3, pytest.param(20, marks=pytest.mark.long)])
def test_kafka_restart_under_load(stack, base_url, log_channel, outage_seconds):
    bystanders = Bystanders("kafka")
    mark = log_channel.mark()
    with Load(base_url, [], workers=2, orders=False, max_seconds=outage_seconds + 40) as load:
        time.sleep(1)
        down = time.monotonic()
        try:
            stack.stop("kafka")
            stopped = time.monotonic() - down
            time.sleep(outage_seconds)
        finally:
            stack.start("kafka")
        up = time.monotonic()
        time.sleep(2)
    sent = {a.request_id for a in load.answers}
    outage_ids = {a.request_id for a in load.between(down, up)}
    seen = set()

    def all_arrived(records):
        # records only grows: look at what is new since the last call.
        seen.update(key for key, _ in records[all_arrived.read :])
        all_arrived.read = len(records)
        return sent <= seen

    all_arrived.read = 0
    start = time.monotonic()
    log_channel.records_since(mark, until=all_arrived, timeout=50 + outage_seconds)
    delivered = time.monotonic() - start
    missing = sent - seen
    print(
        f"\nkafka drill: {len(sent)} requests {summary(load.answers)}, "
        f"{len(outage_ids)} while Kafka was down ({stopped:.1f} s to stop, "
        f"{outage_seconds} s down); records delivered {len(sent & seen)}/{len(sent)} "
        f"(of the outage {len(outage_ids & seen)}/{len(outage_ids)}), "
        f"the last {delivered:.1f} s after the load ended"
    )
    bystanders.check()
    assert all(a.status == 200 for a in load.answers), summary(load.answers)
    assert outage_ids, "no request was made while Kafka was down"
    assert not missing, f"{len(missing)} records never arrived, e.g. {sorted(missing)[:3]}"
