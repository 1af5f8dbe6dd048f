"""The locks are what their declared inputs say: requirements*.txt, compiled by `make lock` from
requirements*.in, pin every package of their tree with hashes, and were compiled from the inputs
as they are now.

Offline and deterministic: nothing here asks the index. ``make lock`` writes the target Python and
a sha256 of the inputs into each lock's header, so a .in edited without re-locking fails here;
the declared pins must be in the lock; and the runtime and dev locks must be exactly the
dependency closure of their inputs, read from the metadata of the packages .venv holds (make
installs the dev lock, which holds the runtime lock). The bench tree is not installed by make
test, so its lock is checked without the closure.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.infra.infra_model import ROOT

RUNTIME, DEV, BENCH = "requirements.in", "requirements-dev.in", "requirements-bench.in"
LOCKED_INPUTS = (RUNTIME, DEV, BENCH)

_HEADER = re.compile(
    r"^#\s+make lock\s+# python (?P<python>\d+\.\d+) (?P<platform>\S+)"
    r" inputs sha256:(?P<digest>[0-9a-f]{64})$",
    re.M,
)
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")


@dataclass
class Lock:
    """A compiled requirements*.txt: its header's fields and its pins with their hashes."""

    python: str = ""
    platform: str = ""
    digest: str = ""
    pins: dict[NormalizedName, str] = field(default_factory=dict)
    hashes: dict[NormalizedName, list[str]] = field(default_factory=dict)


def read_lock(path: Path) -> Lock:
    """Parse a lock as uv writes it: ``name==version \\`` then ``--hash=sha256:...`` lines."""
    text = path.read_text()
    lock = Lock()
    if header := _HEADER.search(text):
        lock.python, lock.platform, lock.digest = header.group("python", "platform", "digest")
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    for line in logical.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0].startswith("-"):
            continue
        pin = _PIN.match(words[0])
        assert pin, f"{path.name}: {words[0]!r} is not pinned with =="
        name = canonicalize_name(pin.group("name"))
        lock.pins[name] = pin.group("version")
        lock.hashes[name] = [
            w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash=")
        ]
    return lock


@dataclass
class Inputs:
    """A requirements*.in with the files it includes (-r): what it declares, and its files."""

    files: list[Path]
    declared: dict[NormalizedName, Requirement]


def read_inputs(path: Path) -> Inputs:
    """The requirements a .in declares, its own and those of the files it includes with -r,
    depth first; -c constraint files are not inputs (the locks they name are checked apart)."""
    inputs = Inputs([path], {})
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-c"):
            continue
        if line.startswith("-r"):
            included = read_inputs(path.parent / line.removeprefix("-r").strip())
            inputs.files += included.files
            inputs.declared.update(included.declared)
            continue
        requirement = Requirement(line)
        inputs.declared[canonicalize_name(requirement.name)] = requirement
    return inputs


def inputs_digest(inputs: Inputs) -> str:
    """What `make lock` records: sha256 of the input files' bytes, the .in first, then -r's."""
    return hashlib.sha256(b"".join(path.read_bytes() for path in inputs.files)).hexdigest()


def lock_of(in_file: Path) -> Path:
    return in_file.with_suffix(".txt")


def lock_problems(in_file: Path) -> list[str]:
    """Everything that keeps the lock of ``in_file`` from being compiled from it as it is now."""
    inputs, lock = read_inputs(in_file), read_lock(lock_of(in_file))
    relock = "run make lock"
    problems = []
    if not lock.digest:
        return [f"{lock_of(in_file).name} has no `make lock` header: run make lock"]
    if lock.digest != inputs_digest(inputs):
        problems.append(f"{in_file.name} changed since {lock_of(in_file).name}: run make lock")
    for name, requirement in sorted(inputs.declared.items()):
        if not str(requirement.specifier).startswith("=="):
            problems.append(f"{in_file.name}: {requirement} is not pinned with ==")
        if name not in lock.pins:
            problems.append(f"{name} is declared but not in {lock_of(in_file).name}: {relock}")
        elif not requirement.specifier.contains(lock.pins[name], prereleases=True):
            problems.append(
                f"{name}: declared {requirement.specifier}, locked {lock.pins[name]}: {relock}"
            )
    for name, hashes in sorted(lock.hashes.items()):
        if not hashes or not all(h.startswith("sha256:") for h in hashes):
            problems.append(f"{lock_of(in_file).name}: {name} carries no sha256 hash")
    return problems


def closure(declared: dict[NormalizedName, Requirement]) -> dict[NormalizedName, list[Requirement]]:
    """The packages ``declared`` needs on this interpreter, each with the requirements that ask
    for it, by the installed packages' metadata (extras and markers honoured)."""
    needed: dict[NormalizedName, list[Requirement]] = {}
    todo = list(declared.values())
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        needed.setdefault(name, []).append(requirement)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in metadata.requires(name) or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(dependency)
    return needed


# --- the real locks -----------------------------------------------------------------------------


@pytest.mark.parametrize("in_file", LOCKED_INPUTS)
def test_the_lock_was_compiled_from_its_inputs_as_they_are(in_file: str) -> None:
    assert lock_problems(ROOT / in_file) == []


@pytest.mark.parametrize("in_file", LOCKED_INPUTS)
def test_the_lock_is_for_the_python_the_tests_run_on(in_file: str) -> None:
    lock = read_lock(lock_of(ROOT / in_file))
    assert lock.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert lock.platform.startswith("x86_64-manylinux_")


@pytest.mark.parametrize(("inner", "outer"), [(RUNTIME, DEV), (DEV, BENCH)])
def test_a_wider_lock_keeps_the_narrower_one_as_it_is(inner: str, outer: str) -> None:
    # requirements-dev.in is compiled against requirements.txt (-c), and bench against dev, so
    # the tests run the very packages that are deployed.
    narrow, wide = read_lock(lock_of(ROOT / inner)), read_lock(lock_of(ROOT / outer))
    changed = {
        name: (version, wide.pins.get(name))
        for name, version in narrow.pins.items()
        if wide.pins.get(name) != version or wide.hashes.get(name) != narrow.hashes[name]
    }
    assert changed == {}, f"re-lock {outer} (make lock): it differs from {inner}'s lock"


@pytest.mark.parametrize("in_file", [RUNTIME, DEV])
def test_the_lock_is_exactly_what_its_inputs_need(in_file: str) -> None:
    inputs, lock = read_inputs(ROOT / in_file), read_lock(lock_of(ROOT / in_file))
    installed = {name: metadata.version(name) for name in lock.pins if _installed(name)}
    stale = {n: (v, installed.get(n)) for n, v in lock.pins.items() if installed.get(n) != v}
    assert stale == {}, "the venv does not hold this lock (locked, installed): run make install"
    needed = closure(inputs.declared)
    assert sorted(set(needed) - set(lock.pins)) == [], "needed but not locked: run make lock"
    assert sorted(set(lock.pins) - set(needed)) == [], "locked but not needed: run make lock"
    unmet = [
        f"{requirement} (locked {lock.pins[name]})"
        for name, requirements in needed.items()
        for requirement in requirements
        if not requirement.specifier.contains(Version(lock.pins[name]), prereleases=True)
    ]
    assert unmet == [], "the lock breaks these requirements: run make lock"


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


# --- the checks catch what they are for ---------------------------------------------------------


@pytest.fixture
def locked_pair(tmp_path: Path) -> Path:
    """A copy of requirements.in and its lock, to edit."""
    for name in (RUNTIME, "requirements.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    return tmp_path / RUNTIME


def test_an_input_edited_without_relocking_is_caught(locked_pair: Path) -> None:
    # GIVEN a bumped pin in requirements.in, and no make lock
    text = locked_pair.read_text().replace("requests==", "requests==9")
    locked_pair.write_text(text)
    # THEN both the header and the pin say so
    problems = lock_problems(locked_pair)
    assert any("changed since requirements.txt: run make lock" in p for p in problems)
    assert any(p.startswith("requests: declared ==9") for p in problems)


def test_a_new_input_without_relocking_is_caught(locked_pair: Path) -> None:
    locked_pair.write_text(locked_pair.read_text() + "six==1.17.0\n")
    assert "six is declared but not in requirements.txt: run make lock" in "".join(
        lock_problems(locked_pair)
    )


def test_a_locked_package_without_hashes_is_caught(locked_pair: Path) -> None:
    lock = lock_of(locked_pair)
    # GIVEN a lock whose requests entry lost its hashes
    text = re.sub(r"(?m)^(requests==\S+) \\\n(\s+--hash=\S+( \\)?\n)+", r"\1\n", lock.read_text())
    lock.write_text(text)
    assert read_lock(lock).pins[canonicalize_name("requests")]
    assert "requirements.txt: requests carries no sha256 hash" in lock_problems(locked_pair)


def test_the_digest_covers_included_inputs(tmp_path: Path) -> None:
    (tmp_path / "a.in").write_text("-r b.in\nsix==1.17.0\n")
    (tmp_path / "b.in").write_text("idna==3.10\n")
    inputs = read_inputs(tmp_path / "a.in")
    assert [p.name for p in inputs.files] == ["a.in", "b.in"]
    assert sorted(inputs.declared) == ["idna", "six"]
    before = inputs_digest(inputs)
    (tmp_path / "b.in").write_text("idna==3.11\n")
    assert inputs_digest(read_inputs(tmp_path / "a.in")) != before
