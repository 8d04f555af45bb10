"""A rush of clients, each on its own keep-alive connection to NGINX: every request is
answered, and no connection is dropped. Clients may wait; they are never cut off.

Each client opens its connection with its first request; then, round after round, all
of them send at once and wait until all have their answer. Between rounds every
connection is open and idle at NGINX, so it holds them all at the same time, and during
a round it also holds one to a replica per request in flight. An NGINX short of
connections closes idle clients' connections to make room ("worker_connections are not
enough, reusing connections") and the clients see reset connections; a replica that
refused NGINX's connections would turn into 502s. Either fails the test, as would a
connection that NGINX closed between two rounds and the client silently reopened.

The quick one (1,000 clients, a few seconds) runs in `make test`; 2,000 clients for
longer in `make drills`."""

import asyncio
import resource
import time

import httpx
import pytest
from checks import FRESH
from drills.support import Bystanders


def _allow_open_files(n):
    """This process needs a descriptor per connection; raise the soft limit if the hard
    one allows, as a load tool would."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"{n} connections need {want} open files; the hard limit here is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def _rush(base_url, clients, rounds, path):
    """Runs the rounds; returns ({status or exception name: count}, clients that had to
    open a second connection, seconds, slowest answer in seconds)."""
    outcomes, reconnected, slowest = {}, 0, 0.0
    # One client per connection, as customers are; the client never closes an idle
    # connection itself (keepalive_expiry=None), so only NGINX could. A long timeout:
    # the test is about NGINX dropping clients, not about how long a client waits on a
    # two-core machine that also runs the whole store.
    limits = httpx.Limits(max_connections=1, keepalive_expiry=None)
    timeout = httpx.Timeout(60.0)
    tls = httpx.create_ssl_context()  # unused over http://, but made once, not per client
    http = [
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout, verify=tls)
        for _ in range(clients)
    ]
    first_stream = [None] * clients

    async def one(i):
        nonlocal slowest, reconnected
        began = time.monotonic()
        try:
            # Fresh reads: the rush is on the replicas, not on NGINX's microcache.
            r = await http[i].get(path, headers=FRESH)
        except httpx.TransportError as error:
            key = type(error).__name__
        else:
            key = r.status_code
            stream = r.extensions["network_stream"]  # the connection it came on
            if first_stream[i] is None:
                first_stream[i] = stream
            elif stream is not first_stream[i]:
                reconnected += 1
        slowest = max(slowest, time.monotonic() - began)
        outcomes[key] = outcomes.get(key, 0) + 1

    try:
        began = time.monotonic()
        for _ in range(rounds):
            await asyncio.gather(*(one(i) for i in range(clients)))
        return outcomes, reconnected, time.monotonic() - began, slowest
    finally:
        await asyncio.gather(*(client.aclose() for client in http))


def _check(base_url, clients, rounds, path="/products"):
    _allow_open_files(clients)
    bystanders = Bystanders()
    outcomes, reconnected, seconds, slowest = asyncio.run(_rush(base_url, clients, rounds, path))
    requests = clients * rounds
    print(
        f"\nrush: {clients} clients x {rounds} rounds of GET {path}: {outcomes} in "
        f"{seconds:.1f} s ({requests / seconds:.0f} req/s), slowest answer {slowest:.1f} s, "
        f"{reconnected} answers on a reopened connection"
    )
    bystanders.check()
    assert outcomes == {200: requests}, outcomes
    assert reconnected == 0, f"NGINX closed {reconnected} idle clients' connections between rounds"


@pytest.mark.timeout(120)
def test_1000_clients_at_once_are_all_answered_on_the_connections_they_opened(base_url):
    _check(base_url, clients=1000, rounds=2)


@pytest.mark.long
@pytest.mark.timeout(240)
def test_2000_clients_at_once_are_all_answered_on_the_connections_they_opened(base_url):
    _check(base_url, clients=2000, rounds=5)
