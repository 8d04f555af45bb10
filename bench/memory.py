"""Resident memory from /proc, summed over process trees: a program under supervisord
is its process and every descendant (granian's workers, PostgreSQL's backends)."""

import re
import subprocess
from pathlib import Path

from loadgen import ROOT


def _supervisorctl(*args):
    return subprocess.run(
        [
            str(ROOT / ".venv/bin/supervisorctl"),
            "-c",
            str(ROOT / "deploy/local/supervisord.conf"),
            *args,
        ],
        capture_output=True,
        text=True,
    ).stdout


def supervised_pid(program=None):
    """The pid of a program under supervisord, or of supervisord itself; None if none runs."""
    out = _supervisorctl("pid", *([program] if program else [])).strip()
    return int(out) if out.isdigit() else None


def _parents():
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name in parentheses may hold spaces: split after it.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(entry.name)] = int(fields[1])
            except OSError:
                pass
    return parent


def tree_memory(root, parents=None):
    """(RSS KiB, PSS KiB, processes) of root and its descendants. RSS counts a page
    shared between processes once per process; PSS shares it out among them."""
    parents = parents if parents is not None else _parents()
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    rss = pss = n = 0
    for p in tree:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            p_rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            p_pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
        except (OSError, AttributeError):
            # Gone since the scan.
            continue
        rss, pss, n = rss + p_rss, pss + p_pss, n + 1
    return rss, pss, n


def stack_memory():
    """{program: (RSS KiB, PSS KiB, processes)} of everything under supervisord."""
    supervisord = supervised_pid()
    if supervisord is None:
        return None
    names = {}
    for line in _supervisorctl("status").splitlines():
        m = re.match(r"(\S+)\s+RUNNING\s+pid (\d+)", line)
        if m:
            names[int(m.group(2))] = m.group(1)
    parents = _parents()
    return {
        names.get(child, str(child)): tree_memory(child, parents)
        for child, parent in parents.items()
        if parent == supervisord
    }
