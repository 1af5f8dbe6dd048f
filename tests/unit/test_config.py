"""Configuration is read once, validated, and fails with a sentence naming the variable."""

from __future__ import annotations

import logging

import pytest

from functions import config
from functions.errors import ConfigError

BASE = {
    "OAUTH_CLIENT_SECRETS": "/run/secrets/client.json",
    "OAUTH_REDIRECT_URI": "https://auth.example.com/oauth2callback",
    "TOKEN_ENCRYPTION_KEYS": "projects/p/secrets/token-keys/versions/latest",
}


def test_defaults_follow_the_design():
    settings = config.load_settings(BASE)

    assert settings.scopes == (
        "openid",
        "email",
        "https://www.googleapis.com/auth/gmail.readonly",
    )
    assert settings.userinfo_uri == "https://openidconnect.googleapis.com/v1/userinfo"
    assert settings.revoke_uri == "https://oauth2.googleapis.com/revoke"
    assert settings.gmail_api_root == "https://gmail.googleapis.com/"
    assert settings.credentials_collection == "gmail_credentials"
    assert settings.allowed_return_to == ()
    assert settings.secure_cookies is True
    assert settings.log_level == logging.INFO


@pytest.mark.parametrize("missing", ["OAUTH_CLIENT_SECRETS", "OAUTH_REDIRECT_URI"])
def test_a_missing_required_variable_is_named(missing):
    environ = {k: v for k, v in BASE.items() if k != missing}

    with pytest.raises(ConfigError, match=rf"^{missing} is required"):
        config.load_settings(environ)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OAUTH_REDIRECT_URI", "not a url"),
        ("OAUTH_REDIRECT_URI", "http://auth.example.com/cb"),
        ("OIDC_USERINFO_URI", "ftp://example.com/userinfo"),
        ("GMAIL_API_ROOT", "gmail.googleapis.com"),
        ("CREDENTIALS_COLLECTION", "a/b"),
        ("ALLOWED_RETURN_TO", "https://ok.example.com/,javascript:alert(1)"),
        ("LOG_LEVEL", "verbose"),
        ("GMAIL_QUOTA_PROFILE", "2025"),
    ],
)
def test_a_malformed_variable_is_named(variable, value):
    with pytest.raises(ConfigError, match=rf"^{variable} must"):
        config.load_settings({**BASE, variable: value})


ENDPOINTS = ("OIDC_USERINFO_URI", "OAUTH_REVOKE_URI", "GMAIL_API_ROOT", "RISC_CONFIGURATION_URI")


@pytest.mark.parametrize("variable", ENDPOINTS)
def test_a_provider_endpoint_must_use_https_off_loopback(variable):
    # the access and refresh tokens travel to these endpoints
    with pytest.raises(ConfigError, match=rf"^{variable} must use https unless"):
        config.load_settings({**BASE, variable: "http://gmail.example.com/"})


@pytest.mark.parametrize("variable", ENDPOINTS)
@pytest.mark.parametrize("host", ["localhost:8090", "127.0.0.1:8090", "[::1]:8090"])
def test_a_provider_endpoint_may_be_plain_http_on_loopback(variable, host):
    settings = config.load_settings({**BASE, variable: f"http://{host}/x"})

    assert f"http://{host}/x" in vars(settings).values()


def test_plain_http_is_accepted_on_loopback_only_and_turns_secure_cookies_off():
    settings = config.load_settings({**BASE, "OAUTH_REDIRECT_URI": "http://localhost:8082/"})

    assert settings.secure_cookies is False


@pytest.mark.parametrize(
    "scope",
    ["emial", "gmail.readonly", "https://www.googleapis.com/auth/gmail.readonli",
     "https://www.googleapis.com/auth/gmail.read"],
)  # fmt: skip
def test_a_scope_google_would_refuse_at_consent_stops_the_start(scope):
    # Google shows its own "Error 400: invalid_scope" page: users would never come back.
    with pytest.raises(ConfigError, match=r"^OAUTH_SCOPES holds a scope Google does not know"):
        config.load_settings({**BASE, "OAUTH_SCOPES": f"openid {scope}"})


def test_other_apis_scope_urls_are_let_through():
    scopes = (
        "openid profile https://www.googleapis.com/auth/calendar.readonly https://mail.google.com/"
    )

    assert len(config.load_settings({**BASE, "OAUTH_SCOPES": scopes}).scopes) == 4


def test_scopes_and_return_to_prefixes_are_split():
    settings = config.load_settings(
        {
            **BASE,
            "OAUTH_SCOPES": "openid  https://www.googleapis.com/auth/gmail.metadata",
            "ALLOWED_RETURN_TO": "https://app.example.com/done, https://other.example.com/",
        }
    )

    assert settings.scopes == ("openid", "https://www.googleapis.com/auth/gmail.metadata")
    assert settings.allowed_return_to == (
        "https://app.example.com/done",
        "https://other.example.com/",
    )


def test_results_topic_is_required_only_when_used():
    settings = config.load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p1"})

    with pytest.raises(ConfigError, match=r"^RESULTS_TOPIC is required"):
        settings.results_topic_path("default")


@pytest.mark.parametrize(
    ("topic", "project", "expected"),
    [
        ("results", "p1", "projects/p1/topics/results"),
        ("projects/p2/topics/results", None, "projects/p2/topics/results"),
    ],
)
def test_results_topic_accepts_an_id_or_a_full_name(topic, project, expected):
    environ = {**BASE, "RESULTS_TOPIC": topic}
    if project:
        environ["GOOGLE_CLOUD_PROJECT"] = project

    assert config.load_settings(environ).results_topic_path("default") == expected


def test_a_bare_topic_id_without_project_names_the_project_variable():
    settings = config.load_settings({**BASE, "RESULTS_TOPIC": "results"})

    with pytest.raises(ConfigError, match=r"^GOOGLE_CLOUD_PROJECT is required"):
        settings.results_topic_path("default")


def test_the_authorize_url_is_found_beside_a_cloud_functions_callback():
    settings = config.load_settings(BASE)

    assert settings.authorize_url == "https://auth.example.com/authorize"
    assert settings.reauth_topic_path("default") is None


def test_re_auth_events_need_an_authorize_url_to_link_to():
    environ = {**BASE, "OAUTH_REDIRECT_URI": "https://auth.example.com/callback/"}

    with pytest.raises(ConfigError, match=r"^AUTHORIZE_URL is required with REAUTH_TOPIC"):
        config.load_settings({**environ, "REAUTH_TOPIC": "reauth"})
    settings = config.load_settings(
        {
            **environ,
            "REAUTH_TOPIC": "reauth",
            "AUTHORIZE_URL": "https://a.example.com/go",
            "GOOGLE_CLOUD_PROJECT": "p1",
        }
    )
    assert settings.reauth_topic_path("default") == "projects/p1/topics/reauth"


def test_the_gmail_quota_profile_is_legacy_unless_the_project_is_from_2026():
    assert config.load_settings(BASE).gmail_quota_profile == "legacy"
    settings = config.load_settings({**BASE, "GMAIL_QUOTA_PROFILE": "2026"})
    assert settings.gmail_quota_profile == "2026"


def test_the_log_level_is_named_in_any_case():
    assert config.load_settings({**BASE, "LOG_LEVEL": "debug"}).log_level == logging.DEBUG
    assert config.load_settings({**BASE, "LOG_LEVEL": "WARNING"}).log_level == logging.WARNING


def test_the_pages_name_the_service_and_link_support_and_privacy_when_configured():
    settings = config.load_settings(
        {
            **BASE,
            "SERVICE_NAME": " Acme Mail Reports ",
            "SUPPORT_URL": "https://acme.example/help",
            "PRIVACY_POLICY_URL": "https://acme.example/privacy",
            "ACCOUNT_PERMISSIONS_URL": "http://localhost:8090/permissions",
        }
    )

    assert settings.service_name == "Acme Mail Reports"
    assert settings.support_url == "https://acme.example/help"
    assert settings.privacy_policy_url == "https://acme.example/privacy"
    assert settings.account_permissions_url == "http://localhost:8090/permissions"


def test_without_them_the_pages_say_the_service_and_link_google_account():
    settings = config.load_settings(BASE)

    assert settings.service_name is None
    assert settings.support_url is None
    assert settings.privacy_policy_url is None
    assert settings.account_permissions_url == "https://myaccount.google.com/connections"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPPORT_URL", "http://acme.example/help"),
        ("SUPPORT_URL", "http://localhost:8000/help"),  # people's links are https, always
        ("SUPPORT_URL", "javascript:alert(1)"),
        ("SUPPORT_URL", "https://"),
        ("PRIVACY_POLICY_URL", "acme.example/privacy"),
        ("PRIVACY_POLICY_URL", "https://user:pw@acme.example/privacy"),
        ("ACCOUNT_PERMISSIONS_URL", "http://sandbox.example/permissions"),
        ("ACCOUNT_PERMISSIONS_URL", "ftp://myaccount.google.com/"),
        ("SERVICE_NAME", "x" * 121),
        ("SERVICE_NAME", "Acme\nMail"),
    ],
)
def test_a_malformed_page_setting_is_named(variable, value):
    with pytest.raises(ConfigError, match=variable):
        config.load_settings({**BASE, variable: value})


def test_one_pipeline_named_default_unless_told():
    assert config.load_settings(BASE).pipelines == ("default",)
    settings = config.load_settings({**BASE, "PIPELINES": " crm, archive-2 ,crm"})
    assert settings.pipelines == ("crm", "archive-2")


@pytest.mark.parametrize("name", ["CRM", "1st", "a_b", "a" * 31, "crm/x"])
def test_a_pipeline_name_that_would_make_a_bad_topic_id_stops_the_start(name):
    with pytest.raises(ConfigError, match=r"^PIPELINES holds"):
        config.load_settings({**BASE, "PIPELINES": name})


def test_each_pipeline_has_its_own_topics_from_the_templates():
    settings = config.load_settings(
        {
            **BASE,
            "GOOGLE_CLOUD_PROJECT": "p1",
            "PIPELINES": "crm,archive",
            "REQUESTS_TOPIC": "req-{pipeline}",
            "RESULTS_TOPIC": "projects/p2/topics/res-{pipeline}",
            "REAUTH_TOPIC": "reauth-{pipeline}",
        }
    )

    assert settings.results_topic_path("crm") == "projects/p2/topics/res-crm"
    assert settings.reauth_topic_path("archive") == "projects/p1/topics/reauth-archive"
    assert settings.pipeline_of_topic("projects/p1/topics/req-archive") == "archive"
    # a topic of no pipeline, or another project's topic of the same ID, is no pipeline's
    assert settings.pipeline_of_topic("projects/p1/topics/req-other") is None
    assert settings.pipeline_of_topic("projects/p9/topics/req-crm") is None


def test_several_pipelines_need_templates():
    environ = {**BASE, "GOOGLE_CLOUD_PROJECT": "p1", "PIPELINES": "crm,archive"}

    with pytest.raises(ConfigError, match=r"^RESULTS_TOPIC must hold \{pipeline\}"):
        config.load_settings({**environ, "RESULTS_TOPIC": "results"})


def test_without_requests_topic_a_delivery_fails_rather_than_being_dropped():
    settings = config.load_settings({**BASE, "GOOGLE_CLOUD_PROJECT": "p1"})

    with pytest.raises(ConfigError, match=r"^REQUESTS_TOPIC is required"):
        settings.pipeline_of_topic("projects/p1/topics/mailbox-requests")
