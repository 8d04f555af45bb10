"""The tests' HTTP clients, each on a loopback address of its own.

NGINX limits POST /auth/login and POST /users per client address (contract: "Rate limits
at the edge"), as a store must. The tests play hundreds of customers, and each customer
has a machine, an address, of their own: so does each client the tests make, on the
loopback (all of 127/8 is this machine). Importing this module makes every
requests.Session one client: the one behind a bare requests.get(), the one schemathesis
makes for each request it generates, a test's own. A test that plays one client many
times does it through one session, and a test of the limits counts what it sends.

schemathesis' CLI (the stateful run of tests/test_fuzz.py) imports it too, as its hooks
file (SCHEMATHESIS_HOOKS, set by tests/conftest.py): the whole run is then one client,
whose allowance no earlier run or other tool on 127.0.0.1 has spent.

Under Docker Compose every address becomes the compose network's gateway on the way in,
so there all the tests share one allowance."""

import ipaddress
import itertools
import os
import random
import time
import warnings
from urllib.parse import urlsplit

import requests

BASE_URL = os.environ.get("BASE_URL", f"http://127.0.0.1:{os.environ.get('NGINX_PORT', '8080')}")
RATE_LIMITED = "/openapi.yaml#/components/responses/RateLimited"

# Only a store on this machine's loopback can be reached from another loopback address.
_BINDS = ipaddress.ip_address(urlsplit(BASE_URL).hostname or "127.0.0.1").is_loopback
# 127.N.x.y with N drawn per process (never 0: tests name 127.0.0.2 themselves), so that a
# run does not meet the allowance an earlier run used up.
_NETWORK = random.randint(1, 254)
_HOSTS = itertools.count(1)


def new_client_address():
    """A loopback address that no other client of this process has."""
    host = next(_HOSTS)
    return f"127.{_NETWORK}.{host // 254 % 256}.{host % 254 + 1}"


def is_rate_limited(answer):
    """The answer is NGINX's 429 of its rate limit (not the API's failed-login one)."""
    if answer.status_code != 429 or "Retry-After" not in answer.headers:
        return False
    try:
        return answer.json().get("type") == RATE_LIMITED
    except ValueError:
        return False


class ClientAdapter(requests.adapters.HTTPAdapter):
    """requests' HTTP transport as one client: its connections come from one loopback
    address of its own (`source`). With `waits`, a 429 of NGINX's rate limit is waited
    out (its Retry-After, at most three times) and the request sent again, as a
    well-behaved client does; that is safe because NGINX answered it itself and it reached
    nothing. The API's own 429s (failed logins) are answers to the test, never retried."""

    one_client = True

    def __init__(self, *args, source=None, waits=False, **kwargs):
        self.source = source or (new_client_address() if _BINDS else None)
        self.waits = waits
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        if self.source:
            kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)

    def send(self, request, **kwargs):
        answer = super().send(request, **kwargs)
        for _ in range(3 if self.waits else 0):
            if not is_rate_limited(answer):
                break
            seconds = int(answer.headers["Retry-After"])
            warnings.warn(
                f"{request.method} {request.path_url} from {self.source} met NGINX's rate "
                f"limit; waited {seconds} s and sent it again",
                stacklevel=2,
            )
            answer.close()
            time.sleep(seconds)
            answer = super().send(request, **kwargs)
        return answer


def client(source=None, waits=True):
    """A test's client: a requests.Session from a loopback address of its own (or
    `source`) that waits out NGINX's rate limit (waits=False: it gets the 429)."""
    session = requests.Session()
    session.mount("http://", ClientAdapter(source=source, waits=waits))
    return session


# requests.Session() mounts the adapter that requests.sessions names: every session made
# after this is a client of its own (the ones of other libraries get the 429, as they
# would without this). Once, even where schemathesis runs this file again as its hooks.
if not getattr(requests.sessions.HTTPAdapter, "one_client", False):
    requests.sessions.HTTPAdapter = ClientAdapter
