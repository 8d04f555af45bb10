"""Generated code is committed; this fails when it no longer matches proto/."""

import filecmp
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = ["gen/go/merchstore", "api-python/merchstore"]


def differences(left, right):
    comparison = filecmp.dircmp(left, right)
    found = [*comparison.left_only, *comparison.right_only, *comparison.diff_files]
    for name in comparison.common_dirs:
        found += [f"{name}/{d}" for d in differences(left / name, right / name)]
    return found


def test_generated_code_matches_the_protos(tmp_path):
    subprocess.run(
        [str(ROOT / ".venv/bin/buf"), "generate", "--output", str(tmp_path)],
        cwd=ROOT,
        check=True,
    )
    stale = {
        folder: differences(ROOT / folder, tmp_path / folder)
        for folder in GENERATED
        if differences(ROOT / folder, tmp_path / folder)
    }
    assert not stale, f"generated code is stale, run `make generate`: {stale}"
