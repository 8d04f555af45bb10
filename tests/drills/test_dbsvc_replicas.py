"""Two DB service replicas (DBSVC_REPLICAS=2): the API spreads its calls over both
(gRPC round_robin over the list of addresses), and stopping one under load, as an
orchestrator stops a pod (SIGTERM: calls in flight finish, new ones go to the other),
fails no request."""

import os
import time
from collections import Counter

import pytest
from drills.support import Load

pytestmark = pytest.mark.skipif(
    os.environ.get("DBSVC_REPLICAS", "2") == "1", reason="DBSVC_REPLICAS=1: one DB service"
)


def test_both_replicas_take_calls_and_stopping_one_fails_no_request(
    stack, base_url, tokens, log_channel
):
    mark = log_channel.mark()
    with Load(base_url, tokens, workers=4) as load:
        time.sleep(2)
        stack.stop("dbsvc-2")
        stopped = time.monotonic()
        time.sleep(2)
        stack.start("dbsvc-2")
        time.sleep(2)
    failed = [(a.op, a.status, a.detail) for a in load.answers if a.status not in (200, 201)]
    assert not failed, failed[:5]
    assert load.between(stopped, stopped + 2), "no request while dbsvc-2 was stopped"

    # Each order placed or cancelled leaves one DB service record naming its replica.
    writes = {a.request_id for a in load.answers if a.op in ("place", "cancel")}

    def by_replica(records):
        return Counter(
            record["instance"]
            for _, record in records
            if record.get("service") == "db" and record.get("request_id") in writes
        )

    records = log_channel.records_since(
        mark, until=lambda r: sum(by_replica(r).values()) >= len(writes), timeout=30
    )
    calls = by_replica(records)
    print(
        f"\ndbsvc replicas drill: {len(load.answers)} requests, none failed; writes {dict(calls)}"
    )
    assert set(calls) == {"db-1", "db-2"}, calls
