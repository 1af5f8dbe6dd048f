"""What runs in production is what the tests run: the Python of the Cloud Functions runtime that
infra/ and scripts/deploy.sh deploy is the Python running this suite (make test builds .venv on
it; the README says why that version).

Runtime IDs as Cloud Run functions names them: https://cloud.google.com/run/docs/runtimes/python
"""

from __future__ import annotations

import re
import sys
import tomllib

from tests.infra.infra_model import ROOT, load_infra

RUNTIME_ID = re.compile(r"python3(\d+)")


def python_of(runtime: str) -> tuple[int, int]:
    """``python313`` -> ``(3, 13)``."""
    match = RUNTIME_ID.fullmatch(runtime)
    assert match, f"{runtime!r} is not a Cloud Functions Python runtime ID"
    return 3, int(match.group(1))


def deploy_script_default() -> str:
    """The runtime scripts/deploy.sh deploys when no --runtime is given."""
    defaults = re.findall(r"^RUNTIME=(\S+)", (ROOT / "scripts" / "deploy.sh").read_text(), re.M)
    assert len(defaults) == 1, f"scripts/deploy.sh sets RUNTIME= {len(defaults)} times, not once"
    return str(defaults[0])


def test_python_of_reads_runtime_ids() -> None:
    assert python_of("python313") == (3, 13)
    assert python_of("python39") == (3, 9)


def test_the_suite_runs_on_the_python_terraform_deploys() -> None:
    runtime = str(load_infra().default("runtime"))
    assert python_of(runtime) == sys.version_info[:2], (
        f"infra/variables.tf deploys {runtime} but the tests run on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}: change both together "
        "(PYTHON_VERSION in the Makefile, pyproject.toml, the README)"
    )


def test_the_suite_runs_on_the_python_deploy_sh_deploys() -> None:
    runtime = deploy_script_default()
    assert python_of(runtime) == sys.version_info[:2], (
        f"scripts/deploy.sh deploys {runtime} but the tests run on Python "
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )


def test_lint_and_type_checks_target_the_deployed_python() -> None:
    major, minor = python_of(str(load_infra().default("runtime")))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert pyproject["tool"]["mypy"]["python_version"] == f"{major}.{minor}"
    assert pyproject["project"]["requires-python"] == f"=={major}.{minor}.*"
