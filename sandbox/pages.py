"""The HTML the user sees: the consent screen and Google-style error pages.

Plain, self-contained pages (no external assets) with labelled controls, so they work in a test
browser without network and are accessible. Rendered with Jinja autoescaping: nothing a caller
sends (login_hint, client_id, redirect_uri) reaches the page unescaped.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import flask

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f0f4f9; margin: 0; color: #1f1f1f;
       line-height: 1.5; }
main { max-width: 34rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2.25rem 2rem;
       border-radius: 28px; }
.brand { display: flex; align-items: center; gap: .5rem; font-size: .95rem; color: #444746;
         border-bottom: 1px solid #e1e3e1; padding-bottom: .75rem; margin: 0 0 1.5rem; }
.logo { font-weight: 700; font-size: 1.25rem; color: #4285f4; }
.badge { margin-inline-start: auto; font-size: .75rem; border: 1px solid #747775;
         border-radius: 4px; padding: 0 .4rem; }
h1 { font-size: 1.6rem; font-weight: 400; line-height: 1.3; margin: 0 0 1.25rem; }
.app { font-weight: 500; } label { display: block; }
.account label { font-size: .9rem; color: #444746; margin-bottom: .25rem; }
input[type=email] { width: 100%; padding: .6rem .9rem; box-sizing: border-box; font-size: 1rem;
                    border: 1px solid #747775; border-radius: 20px; }
fieldset { border: 0; padding: 0; margin: 1.5rem 0 1rem; }
legend { font-size: 1rem; font-weight: 500; padding: 0; margin-bottom: .5rem; }
.scope { display: flex; gap: .75rem; align-items: flex-start; padding: .75rem 0;
         border-bottom: 1px solid #e1e3e1; }
.scope input { width: 1.1rem; height: 1.1rem; margin: .2rem 0 0; accent-color: #0b57d0;
               flex: none; }
.trust { font-size: .9rem; color: #444746; } .trust strong { color: #1f1f1f; }
.actions { display: flex; gap: .75rem; justify-content: flex-end; margin-top: 1.5rem; }
button { font: inherit; font-weight: 500; padding: .55rem 1.5rem; border-radius: 20px;
         cursor: pointer; border: 1px solid #747775; background: #fff; color: #0b57d0; }
button[value=allow] { background: #0b57d0; color: #fff; border-color: #0b57d0; }
button:focus-visible, input:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
code { word-break: break-all; font-size: .85em; }
.client { font-size: .8rem; color: #444746; margin-top: 1.5rem; }
"""

_CONSENT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Google Sandbox</title><style>@@STYLE@@</style></head>
<body><main>
<p class="brand"><span class="logo" aria-hidden="true">G</span> Sign in with Google
  <span class="badge">Sandbox</span></p>
<h1><span class="app">{{ app }}</span> wants access to your Google Account</h1>
<form method="post" action="{{ action }}">
  <input type="hidden" name="consent_id" value="{{ consent_id }}">
  <div class="account">
    <label for="email">Account e-mail</label>
    <input type="email" name="email" id="email" value="{{ login_hint }}" required
           autocomplete="email">
  </div>
  <fieldset>
    <legend>Select what <span class="app">{{ app }}</span> can access</legend>
    {% for scope in scopes %}
    <div class="scope">
      <input type="checkbox" name="scope" id="scope-{{ loop.index }}" value="{{ scope.value }}"
             checked>
      <label for="scope-{{ loop.index }}">{{ scope.label }}</label>
    </div>
    {% endfor %}
  </fieldset>
  <p class="trust"><strong>Make sure you trust {{ app }}.</strong> You may be sharing sensitive
    info with this site or app. Continuing sends you back to <code>{{ redirect_uri }}</code>.</p>
  <div class="actions">
    <button type="submit" name="action" value="allow">Allow</button>
    <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
  </div>
</form>
<p class="client">Client ID: <code>{{ client_id }}</code></p>
</main></body></html>
""".replace("@@STYLE@@", _STYLE)

_ERROR = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error {{ status }}: {{ error }}</title><style>@@STYLE@@</style></head>
<body><main role="alert">
<h1>Access blocked: authorization error</h1>
<p><strong>Error {{ status }}: {{ error }}</strong></p>
<p>{{ description }}</p>
</main></body></html>
""".replace("@@STYLE@@", _STYLE)


_CONNECTIONS = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Third-party apps & services</title><style>@@STYLE@@</style>
</head><body><main><h1>Third-party apps &amp; services</h1>
<p>The sandbox's stand-in for myaccount.google.com/connections.</p>
{% if removed is not none %}<p role="status">Removed {{ removed }} grant(s) of {{ email }}.</p>
{% endif %}<form method="post"><label>Account e-mail <input name="email" type="email" required>
</label> <button type="submit">Remove every app's access</button></form></main></body></html>
""".replace("@@STYLE@@", _STYLE)


def connections_page(email: str | None, removed: int | None) -> str:
    """Google Account's page where a person removes an app's access (after `removed` grants)."""
    return flask.render_template_string(_CONNECTIONS, email=email, removed=removed)


def consent_page(
    *,
    action: str,
    consent_id: str,
    client_id: str,
    redirect_uri: str,
    login_hint: str,
    scopes: list[dict[str, str]],
) -> str:
    """The consent screen; `scopes` holds `{"value", "label"}` per requested scope.

    Like Google's granular consent: the account, one checkbox per scope (all ticked), Allow and
    Cancel. Allow comes first in the form, so Enter in the e-mail field means Allow, not Cancel.
    The app is named by its redirect URI's host, since sandbox clients have no display name.
    """
    return flask.render_template_string(
        _CONSENT,
        app=urlsplit(redirect_uri).netloc or client_id,
        action=action,
        consent_id=consent_id,
        client_id=client_id,
        redirect_uri=redirect_uri,
        login_hint=login_hint,
        scopes=scopes,
    )


def error_page(status: int, error: str, description: str) -> flask.Response:
    """A Google-style "Error 400: redirect_uri_mismatch" page, never a redirect."""
    html = flask.render_template_string(_ERROR, status=status, error=error, description=description)
    return flask.Response(html, status=status, mimetype="text/html")
