#!/usr/bin/env python3
"""What `docker compose config` makes of docker-compose.yml, as a table for question 6.

There is no Docker engine on the machines this report is built on, so the evidence for
question 6 is what Compose itself resolves without one: every service, its network, the
ports it publishes on the host, what it waits for and whether it has a health check.
Reads the file with the secrets-free `.env.example`, as a newcomer's first run would.

    .venv/bin/python report/tools/compose_evidence.py > compose.md
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from test_compose import compose_command  # noqa: E402  (the one way to find docker compose)


def resolved() -> dict:
    answer = subprocess.run(
        [
            *compose_command(),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(ROOT / ".env.example"),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(answer.stdout)


def main() -> None:
    config = resolved()
    print("| service | image or build | networks | published on the host | waits for |")
    print("| --- | --- | --- | --- | --- |")
    for name, spec in sorted(config["services"].items()):
        if "build" in spec:
            build = spec["build"]
            made = f"built from `{build.get('dockerfile', 'Dockerfile')}`"
        else:
            made = f"`{spec['image'].split('@')[0]}`"
        ports = ", ".join(
            f"`{p.get('host_ip', '0.0.0.0')}:{p['published']}` → {p['target']}"
            for p in spec.get("ports") or []
        )
        waits = ", ".join(
            f"{dep} ({'healthy' if d['condition'] == 'service_healthy' else 'finished'})"
            for dep, d in (spec.get("depends_on") or {}).items()
        )
        health = " (has a health check)" if spec.get("healthcheck") else ""
        print(
            f"| `{name}`{health} | {made} | {', '.join(spec.get('networks') or {})} "
            f"| {ports or '-'} | {waits or '-'} |"
        )


if __name__ == "__main__":
    main()
