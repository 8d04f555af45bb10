#!/usr/bin/env python3
"""Fills report/report.md's include lines with what the build produced, for pandoc.

A line that is exactly one of these is replaced; everything else is copied:

    @include FILE          the file, as Markdown
    @code FILE [CLASS]     the file in a fenced code block (CLASS "wide": small, no wrap)
    @monitor FILE          log_monitor.py output with its columns narrowed to fit A4
    @bench                 report/bench/results.md (headings moved down two levels), or
                           a line saying that `make bench` produces it

    ...{{FILE}}...         inside any line: the file's text, stripped

FILE is relative to the build folder.  Usage: assemble.py SOURCE.md BUILD_DIR OUT.md
"""

import pathlib
import re
import sys

REPORT = pathlib.Path(__file__).resolve().parents[1]


def code(path: pathlib.Path, cls: str = "") -> str:
    text = path.read_text().rstrip("\n")
    fence = "~~~~" if "```" in text else "```"
    attrs = "{." + cls + "}" if cls else ""
    if cls:
        return f'<div class="{cls}">\n\n{fence}\n{text}\n{fence}\n\n</div>'
    return f"{fence}{attrs}\n{text}\n{fence}"


def monitor(path: pathlib.Path) -> str:
    """Same lines and values; the date part of the time dropped and the fixed-width
    columns cut to what their values need, so one record fits one line of the page."""
    lines = path.read_text().splitlines()
    if not lines:
        return "(the monitor printed nothing)"
    # Column starts, from the header: TIME, LEVEL, SERVICE/INSTANCE, REQUEST ID, USER, HTTP, MESSAGE
    header = lines[0]
    names = ["LEVEL", "SERVICE/INSTANCE", "REQUEST ID", "USER", "HTTP", "MESSAGE"]
    starts = [0] + [header.index(n) for n in names]
    rows = []
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(cells)
    for row in rows[1:]:
        row[0] = row[0][11:]  # 2026-11-25 17:27:15.198 -> 17:27:15.198
    # Widths from the values; the headers shortened ("SERVICE/INSTANCE" -> "SERVICE").
    rows[0] = ["TIME (UTC)", "LEVEL", "SERVICE", "REQUEST ID", "USER", "HTTP", "MESSAGE"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(names))]
    out = [
        " ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " " + r[-1] for r in rows
    ]
    return code_text("\n".join(x.rstrip() for x in out), "monitor")


def code_text(text: str, cls: str) -> str:
    return f'<div class="{cls}">\n\n```\n{text}\n```\n\n</div>'


def bench() -> str:
    results = REPORT / "bench/results.md"
    if not results.exists():
        return (
            "*No benchmark results yet: `make bench` load-tests the running store and writes "
            "`report/bench/results.md` and `results.png`, which the next `make report` puts here.*"
        )
    text = results.read_text()
    text = re.sub(r"^(#+) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", text, flags=re.M)
    text = text.replace("](results.png)", "](../bench/results.png)")
    return '<div class="small">\n\n' + text + "\n\n</div>"


def main(source: str, build: str, out: str) -> None:
    build_dir = pathlib.Path(build)
    result = []
    for line in pathlib.Path(source).read_text().splitlines():
        words = line.split()
        # An indented directive stays indented, e.g. a code block inside a list item.
        indent = line[: len(line) - len(line.lstrip())]
        block = None
        if words[:1] == ["@include"]:
            block = (build_dir / words[1]).read_text()
        elif words[:1] == ["@code"]:
            block = code(build_dir / words[1], words[2] if len(words) > 2 else "")
        elif words[:1] == ["@monitor"]:
            block = monitor(build_dir / words[1])
        elif words == ["@bench"]:
            block = bench()
        if block is not None:
            result.append("\n".join(indent + x if x else x for x in block.splitlines()))
        else:
            # {{FILE}} inside a line: the file's text, stripped (one-line values).
            result.append(
                re.sub(
                    r"\{\{([^}]+)\}\}", lambda m: (build_dir / m.group(1)).read_text().strip(), line
                )
            )
    pathlib.Path(out).write_text("\n".join(result) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
