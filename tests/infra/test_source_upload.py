"""What a deployment uploads: what .gcloudignore allows, which must be what the functions need at
run time (main.py, functions/ with its locales, requirements.txt) and nothing else the working
tree holds. gcloud (scripts/deploy.sh) reads it as an allowlist; Terraform (infra/source.tf)
zips the same files, byte for byte the same from any checkout."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.infra.infra_model import (
    INFRA,
    ROOT,
    archived_files,
    gcloud_uploaded_files,
    gcloudignore_patterns,
    ignored,
    unquote,
    uploaded_files,
)

RUNTIME = ("main.py", "requirements.txt")
HARMLESS = ("README.md",)

# Folders that tools create in a working tree, and the repository's own non-runtime folders.
NOT_RUNTIME = (
    ".git/",
    ".venv/",
    ".tools/",
    ".python/",
    ".hypothesis/",
    ".dev/",
    "tests/",
    "sandbox/",
    "devstack/",
    "infra/",
    "scripts/",
    "docs/",
    "functions/__pycache__/",
)


def test_the_runtime_files_are_uploaded() -> None:
    files = uploaded_files()
    assert set(RUNTIME) <= set(files)
    assert "functions/config.py" in files


def test_nothing_but_the_runtime_is_uploaded() -> None:
    extra = sorted(
        {
            path.split("/")[0] + ("/" if "/" in path else "")
            for path in uploaded_files()
            if path not in RUNTIME + HARMLESS and not path.startswith("functions/")
        }
    )
    assert extra == [], f"add these to .gcloudignore: {extra}"


def test_tool_and_repository_folders_are_never_uploaded() -> None:
    patterns = gcloudignore_patterns()
    missing = [folder for folder in NOT_RUNTIME if not ignored(folder + "x", patterns)]
    assert missing == [], f"add these to .gcloudignore: {missing}"


def test_gcloudignore_is_an_allowlist() -> None:
    # Everything is left out first; only what a function needs is brought back.
    patterns = gcloudignore_patterns()
    assert patterns[0] == "*"
    assert {"!main.py", "!requirements.txt", "!functions/", "!functions/**"} <= set(patterns)
    assert "functions/web/locales/de/LC_MESSAGES/messages.mo" in uploaded_files()


def test_the_model_agrees_with_gcloud_itself() -> None:
    # uploaded_files() is what gcloud's own gcloudignore module chooses from this tree.
    chosen = gcloud_uploaded_files()
    if chosen is None:
        pytest.skip("the Google Cloud CLI is not installed")
    assert uploaded_files() == chosen


def test_terraform_zips_what_gcloud_uploads(evaluated: dict[str, Any]) -> None:
    assert evaluated["gcloudignore_is_allowlist"]
    assert archived_files(ROOT, evaluated["source_excludes"]) == uploaded_files()


def _stray_tree(root: Path) -> None:
    """A working tree with the runtime files and what people and tools leave lying around."""
    for name in ("main.py", "requirements.txt", ".gcloudignore"):
        shutil.copy(ROOT / name, root / name)
    (root / "functions" / "locales" / "de").mkdir(parents=True)
    (root / "functions" / "config.py").write_text("")
    (root / "functions" / "locales" / "de" / "messages.mo").write_bytes(b"\xde\x12")
    (root / "functions" / "__pycache__").mkdir()
    (root / "functions" / "__pycache__" / "config.cpython-313.pyc").write_bytes(b"")
    for stray in ("client_secret_x.json", ".env", "main.py.orig", "main", "functionsx", "Main.py"):
        (root / stray).write_text("{}")
    (root / "notes" / "deep").mkdir(parents=True)
    (root / "notes" / "deep" / "client_secret_y.json").write_text("{}")


def test_a_stray_client_secret_is_uploaded_by_neither_path(
    evaluated: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN a downloaded OAuth client JSON (and other strays) left in the working tree
    _stray_tree(tmp_path)
    wanted = [
        "functions/config.py",
        "functions/locales/de/messages.mo",
        "main.py",
        "requirements.txt",
    ]
    # THEN gcloud (deploy.sh) uploads only the runtime files ...
    assert uploaded_files(tmp_path) == wanted
    if (chosen := gcloud_uploaded_files(tmp_path)) is not None:
        assert chosen == wanted
    # ... and so does Terraform's zip
    assert archived_files(tmp_path, evaluated["source_excludes"]) == wanted


def test_the_source_zip_does_not_depend_on_file_modes() -> None:
    # The archive provider zeroes timestamps but keeps each file's mode unless told otherwise:
    # a checkout with another umask would change the hash and rebuild every function.
    with (INFRA / "source.tf").open() as handle:
        [data] = [
            block['"archive_file"']['"source"']
            for block in hcl2.load(handle)["data"]
            if '"archive_file"' in block
        ]
    assert unquote(data["output_file_mode"]) == "0644"


def test_cloud_build_uploads_the_repository_but_no_secret_or_state() -> None:
    # gcloud builds submit --ignore-file=.gcloudignore-build: the pipeline needs the repository.
    patterns = [
        line.strip()
        for line in (ROOT / ".gcloudignore-build").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("Makefile", "scripts/deploy.sh", "infra/versions.tf", "tests/infra/x.py"):
        assert not ignored(needed, patterns), needed
    for never in (
        "client_secret_x.json",
        "infra/terraform.tfstate",
        "infra/terraform.tfvars",
        ".venv/x",
    ):
        assert ignored(never, patterns), never
