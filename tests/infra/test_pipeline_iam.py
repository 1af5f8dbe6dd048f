"""The Pub/Sub IAM that infra/ creates for two pipelines, as Terraform evaluates it.

Every Pub/Sub grant of infra/ is one of the IAM resources listed in :data:`PUBSUB_IAM`, each over
a local that Terraform evaluates offline; together they are the whole of who may publish or read
what. With pipelines ``alpha`` and ``beta``, a member of one holds no role on the other's topics or
subscriptions, and nothing grants a Pub/Sub role on the project.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.infra_model import ROOT, Infra, expression, load_infra, unquote
from tests.infra.terraform_eval import PROJECT, REGION, evaluate_locals

PUBLISHER = "roles/pubsub.publisher"
SUBSCRIBER = "roles/pubsub.subscriber"
ALPHA_IN = "serviceAccount:alpha-in@p-1.iam.gserviceaccount.com"
ALPHA_OUT = "serviceAccount:alpha-out@p-1.iam.gserviceaccount.com"
BETA_IN = "serviceAccount:beta-in@p-1.iam.gserviceaccount.com"
BETA_OUT = "group:beta-readers@example.com"
PIPELINES = {
    "alpha": {"publishers": [ALPHA_IN], "consumers": [ALPHA_OUT]},
    "beta": {"publishers": [BETA_IN], "consumers": [BETA_OUT]},
}

PUBSUB_IAM = {
    ("google_pubsub_topic_iam_member", "publisher"): "local.function_publish_grants",
    ("google_pubsub_topic_iam_member", "pipeline_publisher"): "local.pipeline_publish_grants",
    ("google_pubsub_topic_iam_member", "pipeline_consumer"): "local.pipeline_consume_grants",
    ("google_pubsub_subscription_iam_member", "pipeline_consumer"): "local.pipeline_consume_grants",
    ("google_pubsub_topic_iam_member", "gmail_push_publisher"): None,
    ("google_pubsub_topic_iam_member", "dead_letter_publisher"): None,
    ("google_pubsub_subscription_iam_member", "dead_letter_subscriber"): (
        "google_pubsub_subscription.push"
    ),
}
"""Every Pub/Sub IAM resource infra/ may have, with what it is granted over."""


@pytest.fixture(scope="module")
def two(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """infra/locals.tf evaluated by Terraform with pipelines alpha and beta."""
    variables = {"project_id": PROJECT, "region": REGION, "pipelines": PIPELINES}
    return evaluate_locals(terraform, tmp_path_factory.mktemp("tf-pipelines"), variables)


def grants(evaluated: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """``(member, "topic"|"subscription", name, role)`` for every Pub/Sub grant of a member
    that infra/'s IAM resources create from the evaluated locals (functions as ``fn:KEY``)."""
    topics, subscriptions = evaluated["topics"], evaluated["pipeline_subscriptions"]
    held = set()
    for grant in evaluated["function_publish_grants"].values():
        held.add((f"fn:{grant['function']}", "topic", topics[grant["topic"]], PUBLISHER))
    for grant in evaluated["pipeline_publish_grants"].values():
        held.add((grant["member"], "topic", topics[grant["topic"]], PUBLISHER))
    for grant in evaluated["pipeline_consume_grants"].values():
        held.add((grant["member"], "topic", topics[grant["topic"]], SUBSCRIBER))
        name = subscriptions[grant["subscription"]]["name"]
        held.add((grant["member"], "subscription", name, SUBSCRIBER))
    return held


def test_every_pubsub_grant_of_infra_is_one_of_the_evaluated_ones() -> None:
    infra = load_infra()
    found = {
        key: body for key, body in infra.resources.items() if key[0].startswith("google_pubsub_")
    }
    iam = {key: body for key, body in found.items() if "_iam_" in key[0]}
    assert set(iam) == set(PUBSUB_IAM), "a Pub/Sub grant outside the pipeline model"
    for key, over in PUBSUB_IAM.items():
        body = iam[key]
        if over is None:
            assert "for_each" not in body
            continue
        assert expression(body["for_each"]) == over, key
        if over.startswith("local.pipeline"):
            assert expression(body["member"]) == "each.value.member", key
        if key[0] == "google_pubsub_topic_iam_member":
            assert expression(body["topic"]) == "google_pubsub_topic.topic[each.value.topic].id"
    consumer = iam[("google_pubsub_subscription_iam_member", "pipeline_consumer")]
    assert (
        expression(consumer["subscription"])
        == "google_pubsub_subscription.pipeline[each.value.subscription].name"
    )
    assert unquote(iam[("google_pubsub_topic_iam_member", "gmail_push_publisher")]["member"]) == (
        "serviceAccount:gmail-api-push@system.gserviceaccount.com"
    )


def test_nothing_grants_a_pubsub_role_on_the_project() -> None:
    infra = load_infra()
    for (kind, name), body in infra.resources.items():
        if kind.startswith("google_project_iam"):
            role = expression(body.get("role", "")) + expression(body.get("for_each", ""))
            assert "pubsub" not in role, f"{kind}.{name} grants a Pub/Sub role on the project"
    # Nor do the scripts or the docs tell anyone to (deploy.sh grants per topic).
    for path in [ROOT / "README.md", ROOT / "scripts/deploy.sh", *sorted(ROOT.glob("docs/*.md"))]:
        for line in _project_bindings(path):
            assert "roles/pubsub" not in line, f"{path.name}: {line}"


def _project_bindings(path: Path) -> list[str]:
    text = path.read_text().replace("\\\n", " ")
    return [
        line for line in text.splitlines() if re.search(r"projects add-iam-policy-binding", line)
    ]


def test_each_pipeline_gets_its_own_topics_and_subscriptions(two: dict[str, Any]) -> None:
    topics = two["topics"]
    for pipeline in PIPELINES:
        assert topics[f"requests/{pipeline}"] == f"mailbox-requests-{pipeline}"
        assert topics[f"results/{pipeline}"] == f"mailbox-results-{pipeline}"
        assert topics[f"reauth/{pipeline}"] == f"reauth-required-{pipeline}"
    pushes = {key: sub["topic"] for key, sub in two["push_subscriptions"].items()}
    assert pushes["list_messages/alpha"] == "requests/alpha"
    assert pushes["list_messages/beta"] == "requests/beta"
    assert pushes["gmail_push"] == "gmail_push"
    env = two["function_env"]["list_messages"]
    assert env["PIPELINES"] == "alpha,beta"
    assert env["REQUESTS_TOPIC"] == f"projects/{PROJECT}/topics/mailbox-requests-{{pipeline}}"


@pytest.mark.parametrize(("mine", "other"), [("alpha", "beta"), ("beta", "alpha")])
def test_a_pipeline_can_neither_publish_to_nor_read_another_pipelines_topics(
    two: dict[str, Any], mine: str, other: str
) -> None:
    held = grants(two)
    members = {*PIPELINES[mine]["publishers"], *PIPELINES[mine]["consumers"]}
    theirs = {two["topics"][f"{kind}/{other}"] for kind in ("requests", "results", "reauth")} | {
        two["pipeline_subscriptions"][f"{kind}/{other}"]["name"] for kind in ("results", "reauth")
    }

    mine_held = {(what, name, role) for member, what, name, role in held if member in members}

    # THEN the pipeline's members hold nothing on the other pipeline's topics or subscriptions
    assert not {name for _, name, _ in mine_held} & theirs
    # AND exactly: publish its requests, read its results and re-auth events
    topics, subscriptions = two["topics"], two["pipeline_subscriptions"]
    assert mine_held == {
        ("topic", topics[f"requests/{mine}"], PUBLISHER),
        ("topic", topics[f"results/{mine}"], SUBSCRIBER),
        ("topic", topics[f"reauth/{mine}"], SUBSCRIBER),
        ("subscription", subscriptions[f"results/{mine}"]["name"], SUBSCRIBER),
        ("subscription", subscriptions[f"reauth/{mine}"]["name"], SUBSCRIBER),
    }
    publishers = {m for m, what, name, role in held if role == PUBLISHER and what == "topic"}
    assert not (publishers & members) - set(PIPELINES[mine]["publishers"])


# Who publishes each kind of pipeline topic, from the code paths that do: list_messages
# (pipeline.mailbox) and gmail_push (pipeline.push) publish results; re-auth events come from
# grants.reauth.notify_reauth, reached by the lister, Gmail push, watch (pipeline.watch), each
# user's daily upkeep (upkeep_user: grants.upkeep, pipeline.watch; renew_watches only dispatches)
# and the security events receiver. The consent callback publishes nothing: it is public, and a
# grant on a re-auth topic would let it forge events for any pipeline.
WRITERS = {
    "results": {"fn:list_messages", "fn:gmail_push"},
    "reauth": {
        "fn:list_messages",
        "fn:gmail_push",
        "fn:watch",
        "fn:upkeep_user",
        "fn:security_events",
    },
}


REQUESTS_WRITERS = {"fn:list_messages"}
"""Besides its pipeline's publishers, list_messages writes a requests topic: it continues a read
paused for Gmail's quota on the topic that delivered it (pipeline.mailbox.continue_paused)."""


def test_only_the_functions_publish_results_and_re_auth_events(two: dict[str, Any]) -> None:
    held = grants(two)
    written = {
        name
        for member, what, name, role in held
        if role == PUBLISHER and not member.startswith("fn:")
    }
    assert written == {two["topics"]["requests/alpha"], two["topics"]["requests/beta"]}
    for kind, expected in {**WRITERS, "requests": REQUESTS_WRITERS}.items():
        for pipeline in PIPELINES:
            writers = {
                member
                for member, what, name, role in held
                if role == PUBLISHER and name == two["topics"][f"{kind}/{pipeline}"]
            }
            own = set(PIPELINES[pipeline]["publishers"]) if kind == "requests" else set()
            assert writers == expected | own, (kind, pipeline)


def test_the_default_is_one_pipeline_named_default(evaluated: dict[str, Any]) -> None:
    assert set(evaluated["push_subscriptions"]) == {
        "list_messages/default",
        "gmail_push",
        "upkeep_user",
    }
    assert evaluated["function_env"]["authorize"]["PIPELINES"] == "default"


def test_infra_as_loaded_has_the_pipeline_model() -> None:
    infra: Infra = load_infra()
    assert infra.default("requests_topic") == "mailbox-requests-{pipeline}"
    assert infra.resource("google_pubsub_subscription", "pipeline") is not None


def test_deploy_sh_grants_what_terraform_grants(two: dict[str, Any], tmp_path: Path) -> None:
    from tests.infra.test_deploy_script import dry_run, gcloud_commands

    # GIVEN the same two pipelines and members, given to deploy.sh
    arguments = [f"--pipeline={pipeline}" for pipeline in PIPELINES]
    for pipeline, named in PIPELINES.items():
        arguments += [f"--pipeline-publisher={pipeline}={m}" for m in named["publishers"]]
        arguments += [f"--pipeline-consumer={pipeline}={m}" for m in named["consumers"]]
    result, called = dry_run(tmp_path, *arguments)
    assert result.returncode == 0, result.stderr
    assert not called.exists()

    # THEN it grants the pipelines' members exactly what Terraform grants them, per topic and
    # per subscription, and nothing on the project
    granted: set[tuple[str, str, str, str]] = set()
    members = {m for p in PIPELINES.values() for m in (*p["publishers"], *p["consumers"])}
    for command in gcloud_commands(result.stdout):
        options = dict(
            word[2:].split("=", 1) for word in command if word.startswith("--") and "=" in word
        )
        if options.get("member") not in members:
            continue
        assert command[1] == "pubsub"
        assert command[2] in ("topics", "subscriptions")
        what = "topic" if command[2] == "topics" else "subscription"
        granted.add((options["member"], what, command[4], options["role"]))
    expected = {grant for grant in grants(two) if grant[0] in members}
    assert granted == expected
    # AND the functions publish to the topics Terraform lets them publish to
    functions = {(grant[2], grant[3]) for grant in grants(two) if grant[0].startswith("fn:")}
    published = {
        (command[4], "roles/pubsub.publisher")
        for command in gcloud_commands(result.stdout)
        if command[1:4] == ["pubsub", "topics", "add-iam-policy-binding"]
        and "--member=serviceAccount:fn-" in " ".join(command)
    }
    assert published == functions


def test_the_internal_invokers_are_said_to_be_the_operators_not_a_pipeline() -> None:
    # An internal invoker may disconnect or watch any user of any pipeline: nowhere may a
    # pipeline's account be suggested for it.
    description = unquote(load_infra().variables["internal_invokers"]["description"])
    assert "pipeline@" not in description
    assert "not per pipeline" in description.lower()
    script = (ROOT / "scripts" / "deploy.sh").read_text()
    header = script[
        script.index("#   INTERNAL_INVOKERS") : script.index("#   INTERNAL_HTTP_INGRESS")
    ]
    assert "not per pipeline" in header
    deploying = (ROOT / "docs" / "deploying.md").read_text()
    said = " ".join(deploying[deploying.index("`internal_invokers`") :][:600].split())
    assert "not per pipeline" in said


@pytest.mark.parametrize("template", ["requests_topic", "results_topic", "reauth_topic"])
def test_terraform_refuses_a_topic_template_without_pipeline_for_several_pipelines(
    terraform: str, tmp_path: Path, template: str
) -> None:
    # GIVEN two pipelines and a topic template that does not name the pipeline
    variables = {"project_id": PROJECT, "region": REGION, "pipelines": PIPELINES}
    with pytest.raises(subprocess.CalledProcessError) as refused:
        evaluate_locals(terraform, tmp_path / "two", {**variables, template: "shared-topic"})
    # THEN Terraform refuses it, naming the templates, as deploy.sh and config.py do
    output = re.sub(r"\x1b\[[0-9;]*m|│", "", (refused.value.stderr or b"").decode())
    said = " ".join(output.split())
    assert "must hold {pipeline} when there are several pipelines" in said
    # AND with one pipeline the same template is fine
    one = {**variables, "pipelines": {"alpha": {}}, template: "shared-topic"}
    evaluated = evaluate_locals(terraform, tmp_path / "one", one)
    assert "shared-topic" in evaluated["topics"].values()
