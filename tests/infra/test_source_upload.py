"""What a deployment uploads: the repository as .gcloudignore leaves it, which must be what the
functions need at run time (main.py, functions/, requirements.txt) and nothing that tooling
leaves in the tree. Terraform (infra/source.tf) and gcloud (scripts/deploy.sh) both honour it."""

from __future__ import annotations

from tests.infra.infra_model import gcloudignore_patterns, ignored, uploaded_files

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


def test_gcloudignore_has_no_negations_terraform_could_not_honour() -> None:
    assert not [pattern for pattern in gcloudignore_patterns() if pattern.startswith("!")]
