"""The smoke check's deployed side, offline: names derived as infra/ derives them, IAM compared,
and the REST requests it makes, with a fake in place of Google's APIs."""

from __future__ import annotations

from typing import Any

from functions import smoke

PROJECT = "proj"
PUSH = f"serviceAccount:pubsub-push-invoker@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER = f"serviceAccount:scheduler-invoker@{PROJECT}.iam.gserviceaccount.com"
OPS = "group:ops@example.com"


def target(**environ: str) -> smoke.Target:
    return smoke.deployed_target(PROJECT, "europe-west1", environ)


def test_names_are_derived_as_infra_derives_them():
    derived = target(REQUESTS_TOPIC="reqs", DEAD_LETTER_TOPIC="dl", INTERNAL_INVOKERS=OPS)

    assert derived.authorize_url == "https://europe-west1-proj.cloudfunctions.net/authorize"
    assert derived.callback_url == "https://europe-west1-proj.cloudfunctions.net/oauth2callback"
    assert derived.auth_uri == smoke.GOOGLE_AUTH_URI
    assert derived.client_id is None
    assert derived.requests_topic == "reqs"
    assert derived.dead_letter_subscription == "dl-hold"
    assert derived.access is not None
    assert derived.access["authorize"].invokers == {"allUsers"}
    assert derived.access["list_messages"] == smoke.FunctionAccess(
        "list-messages", f"fn-list-messages@{PROJECT}.iam.gserviceaccount.com", frozenset({PUSH})
    )
    assert derived.access["renew_watches"].invokers == {SCHEDULER}
    assert derived.access["disconnect"].invokers == {OPS}


def test_defaults_are_deploy_sh_s():
    derived = target()

    assert derived.requests_topic == "mailbox-requests-default"
    assert target(PIPELINE="crm").requests_topic == "mailbox-requests-crm"
    assert derived.dead_letter_subscription == "mailbox-dead-letter-hold"


def as_deployed(derived: smoke.Target) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    assert derived.access is not None
    return {
        access.service: (
            {"template": {"serviceAccount": access.service_account}},
            {"bindings": [{"role": "roles/run.invoker", "members": sorted(access.invokers)}]},
        )
        for access in derived.access.values()
    }


def test_iam_as_infra_says_passes_and_a_public_internal_function_fails():
    derived = target(INTERNAL_INVOKERS=OPS)
    services = as_deployed(derived)
    derived.cloud_run_service = services.__getitem__

    assert smoke.check_iam(derived).status == "ok"

    # GIVEN disconnect opened to everyone and list-messages running as the default account
    services["disconnect"][1]["bindings"][0]["members"].append("allUsers")
    services["list-messages"][0]["template"]["serviceAccount"] = "123-compute@developer"

    result = smoke.check_iam(derived)

    assert result.status == "failed"
    assert "disconnect invokers: extra ['allUsers'], missing []" in result.detail
    assert "list_messages runs as 123-compute@developer" in result.detail


def test_the_local_stack_skips_iam_out_loud():
    derived = target()
    derived.access = None

    result = smoke.check_iam(derived)

    assert (result.status, result.detail) == ("skipped", "skipped: no IAM in the local stack")
    assert result.line().startswith("SKIPPED ")


class FakeSession:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def _answer(self, method: str, url: str, json: Any = None, **_: Any) -> Any:
        self.calls.append((method, url, json))
        body = self.answers.pop(0)

        class Response:
            def raise_for_status(self) -> None:
                return None

            def json(self) -> dict[str, Any]:
                return body

        return Response()

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._answer("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._answer("POST", url, **kwargs)


def test_rest_calls_name_the_service_and_the_message():
    apis = smoke._GoogleApis(PROJECT, "europe-west1")
    fake = FakeSession([{"template": {}}, {"bindings": []}, {"entries": [{}]}])
    apis._session = fake

    apis.service("authorize")
    assert apis.logged("list-messages", "1234", 0.0)

    base = "https://run.googleapis.com/v2/projects/proj/locations/europe-west1/services/authorize"
    assert [c[:2] for c in fake.calls[:2]] == [("GET", base), ("GET", f"{base}:getIamPolicy")]
    method, url, body = fake.calls[2]
    assert (method, url) == ("POST", "https://logging.googleapis.com/v2/entries:list")
    assert body["resourceNames"] == ["projects/proj"]
    for clause in (
        'resource.labels.service_name="list-messages"',
        'jsonPayload.event_id="1234"',
        'jsonPayload.message="malformed message acknowledged"',
    ):
        assert clause in body["filter"]


def test_the_runner_prints_a_line_per_check_and_fails_on_any_failure(capsys):
    def passes(_: smoke.Target) -> smoke.Result:
        return smoke.Result("passes", "ok", "fine")

    def check_cannot_run(_: smoke.Target) -> smoke.Result:
        raise ConnectionError("refused")

    assert smoke.run_checks(target(), [passes]) == 0
    assert smoke.run_checks(target(), [passes, check_cannot_run]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "OK      passes: fine",
        "OK      passes: fine",
        "FAILED  cannot run: could not run: ConnectionError: refused",
    ]
