"""What ``make dev`` prints once the stack is up: where to click, where to look, what to run."""

from __future__ import annotations

import os
from pathlib import Path

from devstack.envfile import env_prefix
from devstack.stack import LocalStack


def render_banner(stack: LocalStack, env_file: Path, python: str) -> str:
    """The banner text.

    Args:
        stack: the running stack.
        env_file: the file of ``export`` lines written for it.
        python: the interpreter the suggested commands should use.
    """
    if stack.sandbox_url is not None:
        mode = f"sandbox (the local stand-in for Google at {stack.sandbox_url})"
    else:
        assert stack.real_google is not None
        mode = f"real Google (client {stack.real_google.client_secrets})"
    command = (
        f"{env_prefix(stack.client_env)} {_short(python)} -m functions.cli read-mailbox USER_ID"
    )
    lines = [
        "",
        "Local stack is up.",
        f"  Open        {stack.authorize_url}",
        f"  Mode        {mode}",
        f"  Callback    {stack.redirect_uri}",
        f"  Emulators   Firestore {stack.firestore_host}, Pub/Sub {stack.pubsub_host}"
        f" (project {stack.project})",
        f"  Logs        {_short(str(stack.log_dir))}/",
        "",
        "Next, after consenting (the success page shows your user ID):",
        f"  {command}",
        f"  or: source {_short(str(env_file))}  (then run the CLI without the prefix)",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def _short(path: str) -> str:
    """A path relative to the working directory when it lies below it, as a user would type it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
