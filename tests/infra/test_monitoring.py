"""infra/log_metrics.json, infra/monitoring.tf and infra/dashboard.json held together, offline.

The metrics' filters and extractors stay inside the subset tests/infra/log_query.py evaluates
(the integration test tests/integration/test_metrics_contract.py then holds them against the real
log lines); the dashboard and the alerts chart only metrics that exist (ours, or the Cloud Run and
Pub/Sub built-ins listed here); every alert links a heading that exists in docs/operating.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.infra_model import INFRA, ROOT, load_infra, unquote
from tests.infra.log_query import (
    Unsupported,
    fields_of,
    log_entry,
    metric_problems,
    parse_extractor,
    parse_filter,
)

GUIDE = ROOT / "docs" / "operating.md"
USER_METRIC = "logging.googleapis.com/user/gmail_auth/"
# The Google-defined metrics the dashboard and the alerts read, each with its monitored resource.
BUILT_IN = {
    "run.googleapis.com/request_count": "cloud_run_revision",
    "run.googleapis.com/request_latencies": "cloud_run_revision",
    "run.googleapis.com/container/instance_count": "cloud_run_revision",
    "pubsub.googleapis.com/subscription/num_undelivered_messages": "pubsub_subscription",
    "pubsub.googleapis.com/subscription/oldest_unacked_message_age": "pubsub_subscription",
}
ALERTS = ("dead_letters", "function_errors", "renew_watches", "reauth_burst", "account_disabled")


def metrics() -> dict[str, dict[str, Any]]:
    loaded = json.loads((INFRA / "log_metrics.json").read_text())["metrics"]
    return {key: {"name": key, **metric} for key, metric in loaded.items()}


def service_names() -> set[str]:
    definition = json.loads((INFRA / "functions.json").read_text())
    return {fn["name"] for fn in definition["functions"].values()}


def guide_anchors() -> set[str]:
    """The anchors GitHub gives docs/operating.md's headings."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", GUIDE.read_text(), flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def dashboard_filters() -> list[str]:
    dashboard = json.loads((INFRA / "dashboard.json").read_text())
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "filter" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


def metric_types(monitoring_filter: str) -> set[str]:
    return set(re.findall(r'metric\.type\s*=\s*"([^"]+)"', monitoring_filter))


# --- the metrics' one definition --------------------------------------------------------------


def test_every_metric_is_inside_the_evaluated_subset() -> None:
    for key, metric in metrics().items():
        assert re.fullmatch(r"[a-z_]+", key), key
        assert metric["description"], key
        parse_filter(metric["filter"])
        assert metric["labels"], f"{key}: a metric an operator reads has at least one label"
        for spec in metric["labels"].values():
            parse_extractor(spec["extractor"])


def test_metrics_name_only_functions_that_are_deployed() -> None:
    for key, metric in metrics().items():
        named = set(re.findall(r'resource\.labels\.service_name="([^"]+)"', metric["filter"]))
        assert named <= service_names(), key
        assert 'resource.type="cloud_run_revision"' in metric["filter"], key


def test_no_metric_waits_for_a_function_any_more() -> None:
    # security_events was the last: the security_events function now writes its line
    assert [key for key, metric in metrics().items() if metric.get("future")] == []
    assert "jsonPayload.event" in fields_of(metrics()["security_events"]["filter"])


def test_terraform_creates_one_metric_per_entry_verbatim() -> None:
    infra = load_infra()
    metric = infra.resource("google_logging_metric", "metric")
    assert metric is not None
    text = infra.text["monitoring.tf"]
    assert 'jsondecode(file("${path.module}/log_metrics.json")).metrics' in text
    assert unquote(metric["for_each"]) == "${local.log_metrics}"
    assert unquote(metric["filter"]) == "${each.value.filter}"
    assert unquote(metric["name"]) == "gmail_auth/${each.key}"


# --- the evaluator: what it understands, and what it refuses ---------------------------------


LINE = {
    "severity": "WARNING",
    "message": "user needs to consent again",
    "logger": "functions.mailbox",
    "event": "reauth_required",
    "reason": "invalid_grant",
    "transition": True,
    "logging.googleapis.com/labels": {"execution_id": "abc"},
}


def test_a_line_becomes_the_log_entry_cloud_logging_makes() -> None:
    entry = log_entry(LINE, "list-messages")
    assert entry["severity"] == "WARNING"
    assert entry["labels"] == {"execution_id": "abc"}
    assert entry["jsonPayload"]["message"] == "user needs to consent again"
    assert "severity" not in entry["jsonPayload"]
    assert entry["resource"]["labels"]["service_name"] == "list-messages"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('jsonPayload.event="reauth_required"', True),
        ('jsonPayload.event="REAUTH_REQUIRED"', False),
        ("jsonPayload.transition=true", True),
        ("jsonPayload.transition=false", False),
        ('jsonPayload.reason=~"^invalid_.*$"', True),
        ('jsonPayload.missing="x"', False),
        ('NOT jsonPayload.missing="x"', True),
        (
            'severity="WARNING" AND (jsonPayload.reason="a" OR jsonPayload.reason="invalid_grant")',
            True,
        ),
        ('resource.labels.service_name="gmail-push"', False),
    ],
)
def test_filters_evaluate_as_logging_does(query: str, expected: bool) -> None:
    assert parse_filter(query)(log_entry(LINE, "list-messages")) is expected


@pytest.mark.parametrize(
    "query",
    [
        'jsonPayload.message:"consent"',  # has (:), outside the subset
        'jsonPayload.a="x" jsonPayload.b="y"',  # implicit AND
        'jsonPayload.a="x" AND jsonPayload.b="y" OR jsonPayload.c="z"',  # precedence trap
        "severity>=ERROR",
        'jsonPayload.a!="x"',
        'jsonPayload.reason=~"invalid"',  # not anchored
        'jsonPayload.reason=~"^(?=x).*$"',  # look-ahead: RE2 has none
        "jsonPayload.a=bare_word",
        'jsonPayload.a="x" AND',
        '(jsonPayload.a="x"',
        'SEARCH("x")',
    ],
)
def test_filters_outside_the_subset_are_refused(query: str) -> None:
    with pytest.raises(Unsupported):
        parse_filter(query)


@pytest.mark.parametrize(
    "extractor",
    [
        "jsonPayload.reason",
        'REGEXP_EXTRACT(jsonPayload.reason, "^(a)(b)$")',  # two groups
        'REGEXP_EXTRACT(jsonPayload.reason, "^x$")',  # none
        'REGEXP_EXTRACT(jsonPayload.reason, "(a)")',  # not anchored
        "EXTRACT(jsonPayload.reason) ",
    ],
)
def test_extractors_outside_the_subset_are_refused(extractor: str) -> None:
    with pytest.raises(Unsupported):
        parse_extractor(extractor)


def test_the_contract_check_catches_a_renamed_field() -> None:
    # GIVEN the re-auth metric and a line as the functions write it
    metric = metrics()["reauth_transitions"]
    assert metric_problems(metric, [log_entry(LINE, "list-messages")]) == []
    # WHEN the filter names a field no line has, or the line's label field is renamed
    renamed = {
        **metric,
        "filter": metric["filter"].replace("jsonPayload.event", "jsonPayload.kind"),
    }
    recoded = {**{k: v for k, v in LINE.items() if k != "reason"}, "cause": "invalid_grant"}
    # THEN the check says so
    assert metric_problems(renamed, [log_entry(LINE, "list-messages")]) == [
        "reauth_transitions: its filter matches none of the 1 lines the functions wrote"
    ]
    assert metric_problems(metric, [log_entry(recoded, "list-messages")]) == [
        "reauth_transitions: label reason (jsonPayload.reason) extracts nothing from 1 of the "
        "1 lines it counts"
    ]


# --- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_charts_only_metrics_that_exist() -> None:
    dashboard = json.loads((INFRA / "dashboard.json").read_text())
    assert dashboard["displayName"]
    ours = {USER_METRIC + key for key in metrics()}
    charted: set[str] = set()
    for monitoring_filter in dashboard_filters():
        types = metric_types(monitoring_filter)
        assert len(types) == 1, monitoring_filter
        [kind] = types
        assert kind in ours or kind in BUILT_IN, f"the dashboard charts unknown metric {kind}"
        resource = BUILT_IN.get(kind, "cloud_run_revision")
        assert f'resource.type = "{resource}"' in monitoring_filter, monitoring_filter
        charted.add(kind)
    # every log-based metric and every built-in listed is on it
    assert charted == ours | set(BUILT_IN)


def test_the_dashboard_names_the_deployed_functions() -> None:
    for monitoring_filter in dashboard_filters():
        for listed in re.findall(r"service_name = one_of\(([^)]*)\)", monitoring_filter):
            assert set(re.findall(r'"([^"]+)"', listed)) == service_names()


def test_terraform_reads_the_dashboard_file() -> None:
    infra = load_infra()
    dashboard = infra.resource("google_monitoring_dashboard", "operations")
    assert dashboard is not None
    assert unquote(dashboard["dashboard_json"]) == '${file("${path.module}/dashboard.json")}'


# --- the alerts ---------------------------------------------------------------------------------


def alert(name: str) -> dict[str, Any]:
    policy = load_infra().resource("google_monitoring_alert_policy", name)
    assert policy is not None, name
    return policy


def test_the_alerts_the_issue_asks_for_exist_and_notify_the_channels() -> None:
    policies = {
        name for kind, name in load_infra().resources if kind == "google_monitoring_alert_policy"
    }
    assert policies == set(ALERTS)
    variables = load_infra().variables
    assert load_infra().default("notification_channels") == []
    assert "list(string)" in str(variables["notification_channels"]["type"])
    for name in ALERTS:
        assert unquote(alert(name)["notification_channels"]) == "${var.notification_channels}"


@pytest.mark.parametrize("name", ALERTS)
def test_each_alert_links_an_existing_section_of_the_operating_guide(name: str) -> None:
    [documentation] = alert(name)["documentation"]
    content = unquote(documentation["content"])
    links = re.findall(r"\$\{local\.runbook\}#([a-z0-9-]+)", content)
    assert links, f"{name}: its documentation links no section of docs/operating.md"
    assert set(links) <= guide_anchors(), f"{name}: {links} not in {sorted(guide_anchors())}"


def condition_filter(value: str) -> str:
    """An alert condition's filter as Terraform sends it, our metric types substituted."""
    text = unquote(value).replace('\\"', '"')
    return re.sub(
        r'\$\{local\.log_metric_type\["([a-z_]+)"\]\}', lambda m: USER_METRIC + m.group(1), text
    )


@pytest.mark.parametrize("name", ALERTS)
def test_each_alert_reads_only_metrics_that_exist(name: str) -> None:
    ours = {USER_METRIC + key for key in metrics()}
    for condition in alert(name)["conditions"]:
        [threshold] = condition["condition_threshold"]
        for key in ("filter", "denominator_filter"):
            if key in threshold:
                types = metric_types(condition_filter(threshold[key]))
                assert len(types) == 1, f"{name}: {threshold[key]}"
                assert types <= set(BUILT_IN) | ours, f"{name}: {types}"


def test_alerts_on_log_based_metrics_wait_for_them() -> None:
    # A policy naming a log-based metric that does not exist yet is refused by the API.
    for name in ALERTS:
        text = json.dumps(alert(name)["conditions"])
        if "log_metric_type" in text:
            assert "google_logging_metric.metric" in json.dumps(alert(name)["depends_on"]), name


def test_the_dead_letter_alert_watches_the_dead_letter_subscription() -> None:
    [condition] = alert("dead_letters")["conditions"]
    [threshold] = condition["condition_threshold"]
    assert "${google_pubsub_subscription.dead_letter.name}" in unquote(threshold["filter"])
    assert unquote(threshold["comparison"]) == "COMPARISON_GT"
    assert threshold["threshold_value"] == 0


def test_the_security_alert_fires_on_a_disabled_account() -> None:
    [condition] = alert("account_disabled")["conditions"]
    [threshold] = condition["condition_threshold"]
    assert 'metric.label.event_type = "account-disabled"' in condition_filter(threshold["filter"])
    # the label value is what the security metric's extractor gives for Google's RISC event type
    _, extract = parse_extractor(metrics()["security_events"]["labels"]["event_type"]["extractor"])
    uri = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
    assert extract({"jsonPayload": {"event_type": uri}}) == "account-disabled"
    assert extract({"jsonPayload": {"event_type": "account-disabled"}}) == "account-disabled"
