#!/usr/bin/env python3
"""Fills report/report.md's include lines with what the build produced, for pandoc.

A line that is exactly one of these is replaced; everything else is copied:

    @include FILE          the file, as Markdown
    @code FILE [CLASS]     the file in a fenced code block (CLASS "wide": small, no wrap)
    @monitor FILE          log_monitor.py output with its columns narrowed to fit A4
    @curl FILE STEPS       capture.sh's curl session, only the steps listed ("3,4,6");
                           "-3,4,6" is every step but those. JSON bodies get a space after
                           each , and : (same values) so that lines wrap between words
    ...{{meta:KEY}}...     KEY of report/meta.yaml (the student's SID and name)

    ...{{FILE}}...         inside any line: the file's text, stripped
    ...{#fig:NAME}...      a figure's (or with tab:, a table's) caption starts here: it
                           becomes "Figure N." (or "Table N."), numbered in order
    ...@fig:NAME...        a reference to it: "Figure N" (or "Table N"); a reference to
                           a label that no caption defines stops the build

FILE is relative to the build folder; a missing one stops the build. Every SVG a
figure shows must be at most the text's width (680 px or 510 pt), so that nothing in it is
drawn smaller than its source says.  Usage: assemble.py SOURCE.md BUILD_DIR OUT.md
"""

import contextlib
import json
import pathlib
import re
import sys


def code(path: pathlib.Path, cls: str = "") -> str:
    text = read(path).rstrip("\n")
    fence = "~~~~" if "```" in text else "```"
    attrs = "{." + cls + "}" if cls else ""
    if cls:
        return f'<div class="{cls}">\n\n{fence}\n{text}\n{fence}\n\n</div>'
    return f"{fence}{attrs}\n{text}\n{fence}"


def monitor(path: pathlib.Path) -> str:
    """Same lines and values; the date part of the time dropped, the fixed-width columns
    cut to what their values need, and an API record's message ("GET / 200"), which its
    HTTP column already says, left out, so one record fits one line of the page."""
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
        message = row.pop()
        http = row.pop()
        # One column: an API record's request, a DB record's message; an API message
        # that says more than the request line stays after it.
        row.append(http if http.startswith(message) else f"{http} - {message}" if http else message)
    # Widths from the values; the headers shortened ("SERVICE/INSTANCE" -> "SERVICE").
    rows[0] = ["TIME (UTC)", "LEVEL", "SERVICE", "REQUEST ID", "USER", "REQUEST OR MESSAGE"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    out = [" ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]) for r in rows]
    return code_text("\n".join(x.rstrip() for x in out), "monitor")


def curl(path: pathlib.Path, steps: str) -> str:
    """The session's steps ("# N. title" starts one) that steps names, or with a leading
    "-" all the others; bodies that are JSON re-spaced so a long line wraps at a space."""
    wanted = {int(n) for n in steps.lstrip("-").split(",")}
    blocks = re.split(r"(?m)^(?=# \d+\. )", read(path))
    kept = []
    for block in blocks:
        m = re.match(r"# (\d+)\. ", block)
        if not m or ((int(m.group(1)) in wanted) == steps.startswith("-")):
            continue
        lines = []
        for line in block.rstrip("\n").splitlines():
            if line[:1] in "{[":
                with contextlib.suppress(ValueError):
                    line = json.dumps(json.loads(line), separators=(", ", ": "), ensure_ascii=False)
            lines.append(line)
        kept.append("\n".join(lines))
    if not kept:
        sys.exit(f"assemble: no step {steps} in {path}")
    return code_text("\n\n".join(kept), "session")


def meta(key: str) -> str:
    """A value of report/meta.yaml (lines `key: "value"`)."""
    for line in META.read_text().splitlines():
        m = re.match(r'^(\w+):\s*"?(.*?)"?\s*$', line)
        if m and m.group(1) == key:
            return m.group(2)
    sys.exit(f"assemble: {META} has no {key}")


META = pathlib.Path(__file__).resolve().parents[1] / "meta.yaml"
SVG_MAX = {"px": 680, "pt": 510}


def check_svg_width(build_dir: pathlib.Path, text: str) -> None:
    for name in re.findall(r"\]\(([\w./-]+\.svg)\)", text):
        head = (build_dir / name).read_text()[:3000]
        m = re.search(r'<svg[^>]*?width[=:]"?(\d+(?:\.\d+)?)(px|pt)', head)
        if m and float(m.group(1)) > SVG_MAX[m.group(2)] * 1.02:
            sys.exit(
                f"assemble: {name} is {m.group(1)}{m.group(2)} wide; the page would shrink "
                f"its text (at most {SVG_MAX[m.group(2)]}{m.group(2)})"
            )


def read(path: pathlib.Path) -> str:
    if not path.is_file():
        sys.exit(f"assemble: {path} is missing: the build did not make it")
    return path.read_text()


def code_text(text: str, cls: str) -> str:
    return f'<div class="{cls}">\n\n```\n{text}\n```\n\n</div>'


LABEL = re.compile(r"\{#(fig|tab):([\w-]+)\}")
REFERENCE = re.compile(r"@(fig|tab):([\w-]+)")
KINDS = {"fig": "Figure", "tab": "Table"}


def number_captions(text: str) -> str:
    """Figures and tables numbered in the order their captions come, each kind apart."""
    numbers: dict[tuple[str, str], int] = {}
    for kind, name in LABEL.findall(text):
        if (kind, name) in numbers:
            sys.exit(f"assemble: {kind}:{name} is defined twice")
        numbers[(kind, name)] = 1 + sum(1 for k, _ in numbers if k == kind)

    def reference(m: re.Match) -> str:
        key = (m.group(1), m.group(2))
        if key not in numbers:
            sys.exit(f"assemble: @{key[0]}:{key[1]} refers to no caption")
        return f"{KINDS[key[0]]} {numbers[key]}"

    text = LABEL.sub(lambda m: f"{KINDS[m.group(1)]} {numbers[(m.group(1), m.group(2))]}.", text)
    return REFERENCE.sub(reference, text)


def main(source: str, build: str, out: str) -> None:
    build_dir = pathlib.Path(build)
    result = []
    for line in pathlib.Path(source).read_text().splitlines():
        words = line.split()
        # An indented directive stays indented, e.g. a code block inside a list item.
        indent = line[: len(line) - len(line.lstrip())]
        block = None
        if words[:1] == ["@include"]:
            block = read(build_dir / words[1])
        elif words[:1] == ["@code"]:
            block = code(build_dir / words[1], words[2] if len(words) > 2 else "")
        elif words[:1] == ["@monitor"]:
            block = monitor(build_dir / words[1])
        elif words[:1] == ["@curl"]:
            block = curl(build_dir / words[1], words[2])
        if block is not None:
            result.append("\n".join(indent + x if x else x for x in block.splitlines()))
        else:
            # {{FILE}} inside a line: the file's text, stripped (one-line values).
            line = re.sub(r"\{\{meta:(\w+)\}\}", lambda m: meta(m.group(1)), line)
            result.append(
                re.sub(r"\{\{([^}]+)\}\}", lambda m: read(build_dir / m.group(1)).strip(), line)
            )
    text = number_captions("\n".join(result) + "\n")
    check_svg_width(build_dir, text)
    pathlib.Path(out).write_text(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
