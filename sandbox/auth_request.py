"""Validating an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, Google's extras).

Only called once client_id and redirect_uri are known good. RFC 6749 §4.1.2.1 would then send
errors back to the client as `?error=...`; Google does not for a malformed request: the OAuth
2.0 web-server guide ("Authorization errors") shows `invalid_request`, `invalid_scope` and the
like on Google's own page, and the user never returns to the app. Only the user's answer
(`access_denied`) and OpenID Connect's `prompt=none` outcome (OIDC Core §3.1.2.6) are
redirected back. Google's parameters:
https://developers.google.com/identity/protocols/oauth2/web-server#creatingclient
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox import rfc7636, scopes
from sandbox.models import AuthRequest

_PROMPTS = frozenset({"none", "consent", "select_account"})


@dataclass(frozen=True)
class RequestError:
    """What is wrong with a request; shown on Google's error page unless `redirect` is set."""

    error: str
    description: str
    redirect: bool = False


def parse(args: Mapping[str, str], client_id: str, redirect_uri: str) -> AuthRequest | RequestError:
    """Build the AuthRequest, or say what is wrong with it."""
    response_type = args.get("response_type", "")
    if not response_type:
        return RequestError("invalid_request", "Required parameter is missing: response_type")
    if response_type != "code":
        return RequestError("unsupported_response_type", f"Invalid response_type: {response_type}")
    requested = scopes.parse(args.get("scope", ""))
    if requested is None:
        return RequestError("invalid_scope", "Some requested scopes were invalid.")
    if not requested:
        return RequestError("invalid_request", "Missing required parameter: scope")
    unknown = [s for s in requested if s not in scopes.KNOWN]
    if unknown:
        valid = [s for s in requested if s in scopes.KNOWN]
        return RequestError(
            "invalid_scope",
            "Some requested scopes were invalid. "
            f"{{valid=[{', '.join(valid)}], invalid=[{', '.join(unknown)}]}}",
        )
    challenge = args.get("code_challenge")
    method = args.get("code_challenge_method")
    if method is not None and method not in rfc7636.METHODS:
        return RequestError("invalid_request", "Invalid code_challenge_method.")
    if method is not None and not challenge:
        return RequestError("invalid_request", "Missing code_challenge.")
    if challenge is not None and not rfc7636.is_well_formed(challenge):
        return RequestError("invalid_request", "Invalid code_challenge.")
    access_type = args.get("access_type", "online")
    if access_type not in ("online", "offline"):
        return RequestError("invalid_request", f"Invalid access_type: {access_type}")
    prompt = frozenset(args.get("prompt", "").split())
    if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        return RequestError("invalid_request", "Invalid prompt.")
    if "none" in prompt:
        return RequestError(
            "interaction_required", "The sandbox has no signed-in session.", redirect=True
        )
    return AuthRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=requested,
        state=args.get("state"),
        code_challenge=challenge,
        code_challenge_method=(method or rfc7636.PLAIN) if challenge else None,
        offline=access_type == "offline",
        prompt=prompt,
        include_granted_scopes=args.get("include_granted_scopes", "").lower() == "true",
        login_hint=args.get("login_hint", ""),
        nonce=args.get("nonce"),
    )
