"""The HTML the user sees: the consent screen and Google-style error pages.

Plain, self-contained pages (no external assets) with labelled controls, so they work in a test
browser without network and are accessible. Rendered with Jinja autoescaping: nothing a caller
sends (login_hint, client_id, redirect_uri) reaches the page unescaped.
"""

from __future__ import annotations

import flask

_STYLE = """
body { font-family: system-ui, sans-serif; background: #f1f3f4; margin: 0; color: #202124; }
main { max-width: 30rem; margin: 3rem auto; background: #fff; padding: 2rem;
       border-radius: 8px; border: 1px solid #dadce0; }
h1 { font-size: 1.4rem; font-weight: 400; } label { display: block; margin: .5rem 0; }
input[type=email] { width: 100%; padding: .5rem; box-sizing: border-box; font-size: 1rem; }
fieldset { border: 1px solid #dadce0; border-radius: 4px; margin: 1rem 0; }
.scope { display: flex; gap: .5rem; align-items: baseline; margin: .4rem 0; }
.scope label { margin: 0; } .actions { display: flex; gap: 1rem; justify-content: flex-end; }
button { font-size: 1rem; padding: .5rem 1.5rem; border-radius: 4px; border: 1px solid #dadce0; }
button[value=allow] { background: #1a73e8; color: #fff; border-color: #1a73e8; }
code { word-break: break-all; }
"""

_CONSENT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Google Sandbox</title><style>@@STYLE@@</style></head>
<body><main>
<p>Google Sandbox</p>
<h1>Sign in to continue to <code>{{ client_id }}</code></h1>
<form method="post" action="{{ action }}">
  <input type="hidden" name="consent_id" value="{{ consent_id }}">
  <label for="email">Account e-mail</label>
  <input type="email" name="email" id="email" value="{{ login_hint }}" required
         autocomplete="email">
  <fieldset>
    <legend>Select what <code>{{ client_id }}</code> can access</legend>
    {% for scope in scopes %}
    <div class="scope">
      <input type="checkbox" name="scope" id="scope-{{ loop.index }}" value="{{ scope.value }}"
             checked>
      <label for="scope-{{ loop.index }}">{{ scope.label }}</label>
    </div>
    {% endfor %}
  </fieldset>
  <p>Continuing sends you back to <code>{{ redirect_uri }}</code>.</p>
  <div class="actions">
    <button type="submit" name="action" value="allow">Allow</button>
    <button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
  </div>
</form>
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


def consent_page(
    *,
    action: str,
    consent_id: str,
    client_id: str,
    redirect_uri: str,
    login_hint: str,
    scopes: list[dict[str, str]],
) -> str:
    """The consent screen; `scopes` holds `{"value", "label"}` per requested scope."""
    return flask.render_template_string(
        _CONSENT,
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
