"""infra/*.tf held against the google provider's own schema, read offline from the jsii assembly of
cdktn-provider-google (provider_schema.py): what `terraform validate` would refuse fails here.

The checks are shown to catch a misspelt argument, a missing required argument or block, an
unknown block, and a block and an argument mistaken for each other, on copies of infra/.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

from tests.infra.infra_model import INFRA, load_infra
from tests.infra.provider_schema import (
    ProviderSchema,
    google_blocks,
    load_provider_schema,
    required_provider_versions,
    satisfies,
    schema_problems,
)


@pytest.fixture(scope="module")
def google() -> ProviderSchema:
    return load_provider_schema("cdktn-provider-google")


def mutated(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of infra/ with ``old`` replaced by ``new``, once, in ``file``."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".build"))
    path = copy / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} must occur once in {file}"
    path.write_text(text.replace(old, new))
    return copy


# --- the schema as read from the assembly -------------------------------------------------------


def test_the_schema_is_of_the_provider_version_infra_requires(google: ProviderSchema) -> None:
    # What is checked must be what `terraform init` installs: the package pinned in
    # requirements-dev.txt carries one provider release, infra/versions.tf allows a range.
    constraint = required_provider_versions()["google"]
    assert satisfies(google.version, constraint), (
        f"{google.distribution} {google.distribution_version} carries the google provider "
        f"{google.version}, but infra/versions.tf requires {constraint}: pin the package "
        "version generated from a provider release that infra/ allows."
    )


def test_arguments_blocks_and_what_is_required(google: ProviderSchema) -> None:
    function = google.lookup("resource", "google_cloudfunctions2_function")
    assert function is not None
    assert function.arguments["name"].required
    assert function.arguments["location"].required
    assert not function.arguments["description"].required
    build = function.blocks["build_config"]
    assert build.single
    assert not build.required
    assert "entry_point" in build.schema.arguments
    volumes = function.blocks["service_config"].schema.blocks["secret_volumes"]
    assert not volumes.single  # a list: one per mounted secret
    assert volumes.schema.arguments["mount_path"].required
    assert volumes.schema.blocks["versions"].schema.arguments["path"].required

    secret = google.lookup("resource", "google_secret_manager_secret")
    assert secret is not None
    assert secret.blocks["replication"].required
    topic = google.lookup("resource", "google_pubsub_topic")
    assert topic is not None
    assert topic.arguments["name"].required
    project = google.lookup("data", "google_project")
    assert project is not None
    assert "project_id" in project.arguments
    assert {"project", "region", "default_labels"} <= set(google.provider.arguments)


def test_names_are_terraform_names_not_converted_camel_case(google: ProviderSchema) -> None:
    # jsii's hugepageSize1G, buildAttribute and detectMd5Hash do not convert back mechanically.
    pool = google.lookup("resource", "google_container_node_pool")
    assert pool is not None
    linux = pool.blocks["node_config"].schema.blocks["linux_node_config"].schema
    assert "hugepage_size_1g" in linux.blocks["hugepages_config"].schema.arguments
    trigger = google.lookup("resource", "google_cloudbuild_trigger")
    assert trigger is not None
    assert "build" in trigger.blocks
    bucket_object = google.lookup("resource", "google_storage_bucket_object")
    assert bucket_object is not None
    assert "detect_md5hash" in bucket_object.arguments


@pytest.mark.parametrize(
    ("version", "constraint", "expected"),
    [
        ("7.46.1", "~> 7.20", True),
        ("7.20.0", "~> 7.20", True),
        ("7.19.9", "~> 7.20", False),
        ("8.7.0", "~> 7.20", False),
        ("7.20.9", "~> 7.20.1", True),
        ("7.21.0", "~> 7.20.1", False),
        ("8.0.0", "~> 7", True),
        ("1.11.0", ">= 1.5", True),
        ("2.0.0", ">= 1.5, < 2.0", False),
        ("7.46.1", "7.46.1", True),
        ("7.46.1", "!= 7.46.1", False),
    ],
)
def test_version_constraints(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(version, constraint) is expected


# --- the real infra/ ----------------------------------------------------------------------------


def test_every_google_block_of_infra_is_checked() -> None:
    checked = {block.address for block in google_blocks()}
    resources = {f"{kind}.{name}" for kind, name in load_infra().resources if kind[:7] == "google_"}
    assert resources <= checked
    assert {"data.google_project.this", "provider.google"} <= checked


def test_infra_matches_the_provider_schema() -> None:
    assert schema_problems() == []


# --- what it catches ----------------------------------------------------------------------------


def test_a_misspelt_argument_of_the_function_is_caught(tmp_path: Path) -> None:
    # GIVEN a Cloud Function whose build_config misspells entry_point
    infra = mutated(tmp_path, "functions.tf", "    entry_point       =", "    entry_pont        =")
    # THEN the check names the file, the resource, the bad name and the likely one
    assert schema_problems(infra) == [
        "infra/functions.tf:4: google_cloudfunctions2_function.function: build_config.entry_pont: "
        "no such argument or block; did you mean 'entry_point'?"
    ]


def test_a_misspelt_top_level_argument_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "functions.tf", "  description = each", "  descripton = each")
    [problem] = schema_problems(infra)
    assert "google_cloudfunctions2_function.function: descripton: no such" in problem
    assert "'description'" in problem


def test_a_missing_required_argument_is_caught(tmp_path: Path) -> None:
    # GIVEN topics without a name
    infra = mutated(tmp_path, "pubsub.tf", "  name = each.value\n", "")
    assert schema_problems(infra) == [
        "infra/pubsub.tf:4: google_pubsub_topic.topic: name: required argument missing."
    ]


def test_a_missing_required_block_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "secrets.tf", "  replication {\n    auto {}\n  }\n", "")
    assert schema_problems(infra) == [
        "infra/secrets.tf:4: google_secret_manager_secret.secret: replication: "
        "required block missing."
    ]


def test_an_unknown_nested_block_is_caught(tmp_path: Path) -> None:
    # GIVEN a function whose service_config has a block the provider does not know
    infra = mutated(
        tmp_path,
        "functions.tf",
        "    max_instance_count               = each.value.sizing.max_instances\n",
        "    max_instance_count               = each.value.sizing.max_instances\n"
        "    scaling {\n      min = 0\n    }\n",
    )
    [problem] = schema_problems(infra)
    assert problem.startswith("infra/functions.tf:4: google_cloudfunctions2_function.function: ")
    assert "service_config.scaling: no such argument or block" in problem


def test_a_misspelt_block_inside_a_dynamic_block_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "functions.tf", "        versions {", "        version {")
    [problem] = schema_problems(infra)
    assert "service_config.secret_volumes.version: no such argument or block" in problem
    assert "did you mean 'versions'?" in problem


def test_a_dynamic_block_the_provider_does_not_know_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "scheduler.tf", 'dynamic "http_target"', 'dynamic "http_targets"')
    [problem] = schema_problems(infra)
    assert "google_cloud_scheduler_job.scheduled: dynamic 'http_targets': no such block" in problem
    assert "'http_target'" in problem


def test_a_block_written_as_an_argument_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "source.tf", "  versioning {", "  versioning = {")
    [problem] = schema_problems(infra)
    assert "google_storage_bucket.source: versioning is a block" in problem


def test_an_argument_written_as_a_block_is_caught(tmp_path: Path) -> None:
    infra = mutated(
        tmp_path, "pubsub.tf", "  name = each.value\n", "  name = each.value\n  labels {}\n"
    )
    [problem] = schema_problems(infra)
    assert "google_pubsub_topic.topic: labels is an argument" in problem


def test_a_single_block_given_twice_is_caught(tmp_path: Path) -> None:
    infra = mutated(
        tmp_path,
        "source.tf",
        "  versioning {",
        "  versioning {\n    enabled = false\n  }\n  versioning {",
    )
    [problem] = schema_problems(infra)
    assert "versioning: the provider allows one versioning block, found 2" in problem


def test_an_unknown_resource_type_is_caught(tmp_path: Path) -> None:
    infra = mutated(
        tmp_path,
        "pubsub.tf",
        'resource "google_pubsub_topic" "topic"',
        'resource "google_pubsub_topics" "topic"',
    )
    problems = schema_problems(infra)
    assert any(
        "google_pubsub_topics.topic: the google provider" in problem
        and "has no resource 'google_pubsub_topics'; did you mean 'google_pubsub_topic'" in problem
        for problem in problems
    )


def test_a_misspelt_provider_argument_is_caught(tmp_path: Path) -> None:
    infra = mutated(tmp_path, "providers.tf", "  region         =", "  regoin         =")
    assert schema_problems(infra) == [
        "infra/providers.tf:1: provider.google: regoin: no such argument or block; "
        "did you mean 'region'?"
    ]


def test_a_google_beta_resource_is_checked_or_reported_never_passed(tmp_path: Path) -> None:
    # infra/ uses no google-beta resource; one that did would be held against that provider's
    # schema, and reported while cdktn-provider-google-beta is not installed.
    infra = mutated(
        tmp_path,
        "pubsub.tf",
        "  name = each.value\n",
        "  name = each.value\n  provider = google-beta\n",
    )
    problems = schema_problems(infra)
    try:
        importlib.metadata.distribution("cdktn-provider-google-beta")
    except importlib.metadata.PackageNotFoundError:
        assert problems == [
            "infra/pubsub.tf:4: google_pubsub_topic.topic: cannot be checked: "
            "cdktn-provider-google-beta is not installed "
            "(requirements-dev.txt; run `make install`)."
        ]
    else:
        assert problems == []
