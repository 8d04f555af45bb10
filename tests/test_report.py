"""The report (report/report.md, built into report/report.pdf) against the code it describes:

- every RPC in proto/ and every REST operation in api-python/openapi.yaml is in it;
- every configuration snippet it quotes (a fenced block with `source="FILE"`) is what
  FILE says, line for line (a line `...` stands for lines left out);
- every Markdown table renders whole: pandoc's AST has each table's rows, each with as many
  cells as its header (the type table, the report's own tables, and when a build left it,
  report/build/report.md with every generated table);
- every number of the benchmark appendix is one of bench_section.py's files, made from
  report/bench/results.json: the section's own text has no digit;
- the committed PDF was built from a clean tree whose code is this checkout's code:
  `make report` records the commit and hashes in report/build-info.json, and this file
  recomputes them (run as a program with `--record FILE`, it writes that record).

No store is needed.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "report/report.md"
PDF = ROOT / "report/report.pdf"
BUILD_INFO = ROOT / "report/build-info.json"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
SNIPPET = re.compile(r'^```\{[^}\n]*source="([^"]+)"[^}\n]*\}\n(.*?)\n```$', re.M | re.S)
REBUILD = "rebuild it from a clean tree with `make report` (the store up, after `make bench`)"


def report_text() -> str:
    return REPORT.read_text()


def rpcs() -> list[str]:
    return sorted(
        f"{service}.{rpc}"
        for proto in ROOT.glob("proto/**/*.proto")
        for service, body in re.findall(r"service (\w+) \{(.*?)\n\}", proto.read_text(), re.S)
        for rpc in re.findall(r"^\s*rpc (\w+)\(", body, re.M)
    )


def operations() -> list[str]:
    spec = yaml.safe_load((ROOT / "api-python/openapi.yaml").read_text())
    return [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


@pytest.mark.parametrize("rpc", rpcs())
def test_every_rpc_is_in_the_report(rpc):
    name = rpc.split(".")[1]
    assert re.search(rf"\b{name}\b", report_text()), f"report/report.md never names {rpc}"


@pytest.mark.parametrize("operation", operations())
def test_every_rest_operation_is_in_the_report(operation):
    assert f"`{operation}`" in report_text(), f"report/report.md never names `{operation}`"


# --- tables render whole -------------------------------------------------------------------

ASSEMBLED = ROOT / "report/build/report.md"


def pipe_tables(markdown: str) -> list[list[str]]:
    """The lines of each pipe table, in order: a header, a separator, then the rows."""
    tables, lines = [], markdown.splitlines()
    i = 0
    while i < len(lines):
        if (
            lines[i].startswith("|")
            and i + 1 < len(lines)
            and re.match(r"^\|[\s:|-]+\|$", lines[i + 1])
        ):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            tables.append(lines[i:j])
            i = j
        else:
            i += 1
    return tables


def ast_tables(markdown: str) -> list[dict]:
    """Each table of pandoc's AST: its header's cell count and each body row's."""
    assert shutil.which("pandoc"), "pandoc is missing: `make up` installs Debian's pandoc"
    ast = json.loads(
        subprocess.run(
            ["pandoc", "--from", "markdown", "--to", "json"],
            input=markdown,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("t") == "Table":
                _attr, _caption, _specs, head, bodies, _foot = node["c"]
                found.append(
                    {
                        "header": [len(row[1]) for row in head[1]],
                        "rows": [len(row[1]) for body in bodies for row in body[3]],
                        "node": node,
                    }
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ast)
    return found


def broken_tables(markdown: str) -> list[str]:
    """How the tables of markdown fail to render whole; empty when every one does."""
    source, rendered = pipe_tables(markdown), ast_tables(markdown)
    if len(source) != len(rendered):
        return [f"{len(source)} pipe tables in the text, {len(rendered)} in pandoc's AST"]
    out = []
    for lines, table in zip(source, rendered, strict=True):
        name = lines[0][:60]
        header = table["header"][0] if table["header"] else 0
        if len(table["rows"]) != len(lines) - 2:
            out.append(f"{name}: {len(lines) - 2} rows written, {len(table['rows'])} rendered")
        for n, cells in enumerate(table["rows"], 1):
            if cells != header:
                out.append(f"{name}: row {n} has {cells} cells, the header {header}")
    return out


def type_table() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_type_table

    return test_type_table.markdown_table()


def inline_text(inlines: list) -> str:
    parts = []
    for node in inlines:
        if node["t"] == "Str":
            parts.append(node["c"])
        elif node["t"] in ("Space", "SoftBreak"):
            parts.append(" ")
        elif node["t"] == "Code":
            parts.append(f"<code>{node['c'][1]}</code>")
    return "".join(parts)


def test_the_type_table_renders_whole_with_the_email_pattern_as_code():
    table = type_table()
    assert broken_tables(table) == []
    ((rendered,),) = [ast_tables(table)]
    pattern = yaml.safe_load((ROOT / "api-python/openapi.yaml").read_text())["components"][
        "schemas"
    ]["Email"]["pattern"]
    rows = rendered["node"]["c"][4][0][3]
    cells = {inline_text(row[1][0][4][0]["c"]): row[1] for row in rows if row[1][0][4]}
    email = cells["<code>users.email</code>"]
    assert f"<code>{pattern}</code>" in inline_text(email[3][4][0]["c"]), (
        "the email pattern is not one code span holding the OpenAPI file's pattern"
    )


def test_the_reports_own_tables_render_whole():
    assert broken_tables(report_text()) == []


@pytest.mark.skipif(not ASSEMBLED.exists(), reason="no report/build/report.md: run make report")
def test_every_table_of_the_last_build_renders_whole():
    assert broken_tables(ASSEMBLED.read_text()) == []


# --- the benchmark's numbers come from results.json ------------------------------------------

BENCH_INCLUDE = re.compile(r"\{\{bench/([\w.-]+)\}\}")


def bench_section() -> str:
    text = report_text()
    start = re.search(r"^(#+) .*Benchmark.*$", text, re.M)
    assert start, "the report has no benchmark section"
    level = len(start.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start.end())
    return text[start.end() : end.start() if end else len(text)]


def test_the_benchmark_section_types_no_number():
    prose = BENCH_INCLUDE.sub("", bench_section())
    prose = re.sub(r"^@include bench/\S+$", "", prose, flags=re.M)
    prose = re.sub(r"\{#(fig|tab):[\w-]+\}|@(fig|tab):[\w-]+", "", prose)
    prose = re.sub(r"\bp(50|99)\b", "", prose)  # the names of percentiles
    typed = [line for line in prose.splitlines() if re.search(r"\d", line)]
    assert typed == [], f"numbers typed into the benchmark section, not from results.json: {typed}"


def test_every_benchmark_figure_is_made_from_results_json():
    names = set(BENCH_INCLUDE.findall(report_text()))
    assert names, "the report quotes no figure of the benchmark"
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "report/tools/bench_section.py"),
                str(ROOT / "report/bench/results.json"),
                out,
            ],
            check=True,
        )
        made = {p.name for p in Path(out).iterdir()}
    assert names - made == set(), "the report quotes files bench_section.py does not make"


def snippets() -> list[tuple[str, str]]:
    return SNIPPET.findall(report_text())


def quoted_lines_match(snippet: str, lines: list[str]) -> bool:
    """Whether snippet's lines are a run of lines (whitespace around each ignored), with
    `...` standing for any lines left out."""
    wanted = [line.strip() for line in snippet.splitlines()]
    have = [line.strip() for line in lines]

    def match(w: int, h: int) -> bool:
        if w == len(wanted):
            return True
        if wanted[w] == "...":
            return any(match(w + 1, k) for k in range(h, len(have) + 1))
        return h < len(have) and have[h] == wanted[w] and match(w + 1, h + 1)

    return any(match(0, start) for start in range(len(have)))


def test_the_report_quotes_configuration():
    assert len(snippets()) >= 3, "the report quotes fewer configuration snippets than it did"


@pytest.mark.parametrize("source,snippet", snippets(), ids=lambda v: v.splitlines()[0][:40])
def test_quoted_snippets_match_the_files_they_quote(source, snippet):
    lines = (ROOT / source).read_text().splitlines()
    assert quoted_lines_match(snippet, lines), (
        f"report/report.md quotes {source}, but these lines are not in it as quoted:\n{snippet}"
    )


def test_the_snippet_matcher_refuses_what_is_not_there():
    lines = ["a: 1", "  b: 2", "c: 3", "d: 4"]
    assert quoted_lines_match("b: 2\nc: 3", lines)
    assert quoted_lines_match("a: 1\n...\nd: 4", lines)
    assert not quoted_lines_match("b: 2\nd: 4", lines)
    assert not quoted_lines_match("c: 3\nb: 2", lines)
    assert not quoted_lines_match("b: 20", lines)


def code_files() -> list[str]:
    """Every tracked file whose change would make the report describe other code: all but
    the build's own outputs and the Markdown documents outside the report."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    outputs = {"report/report.pdf", "report/build-info.json"}
    return sorted(
        path
        for path in tracked.split("\0")
        if path and path not in outputs and (path == "report/report.md" or not path.endswith(".md"))
    )


def code_hash() -> str:
    digest = hashlib.sha256()
    for path in code_files():
        file = ROOT / path
        digest.update(path.encode() + b"\0")
        digest.update(file.read_bytes() if file.is_file() else b"(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def test_the_pdf_is_the_one_the_record_describes():
    record = json.loads(BUILD_INFO.read_text())
    assert hashlib.sha256(PDF.read_bytes()).hexdigest() == record["pdf_sha256"], (
        f"report/report.pdf is not the PDF that report/build-info.json describes; {REBUILD}"
    )


def test_the_pdf_was_built_from_a_clean_tree_of_this_code():
    record = json.loads(BUILD_INFO.read_text())
    assert record["clean"], f"report/report.pdf was built with uncommitted changes; {REBUILD}"
    assert record["code_sha256"] == code_hash(), (
        f"the code changed since report/report.pdf was built from commit {record['commit']}; "
        f"{REBUILD}"
    )


def record(path: str) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(path).write_text(
        json.dumps(
            {
                "commit": commit,
                "clean": clean_but_for_outputs(),
                "code_sha256": code_hash(),
                "pdf_sha256": hashlib.sha256(PDF.read_bytes()).hexdigest(),
            },
            indent=1,
        )
        + "\n"
    )


def clean_but_for_outputs() -> bool:
    """Whether the tree is as committed, but for the PDF and record the build rewrites."""
    outputs = [":!report/report.pdf", ":!report/build-info.json"]
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", *outputs],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return not status.strip()


if __name__ == "__main__":
    if sys.argv[1:2] != ["--record"] or len(sys.argv) != 3:
        sys.exit("usage: test_report.py --record report/build-info.json")
    record(sys.argv[2])
