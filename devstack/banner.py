"""What ``make dev`` prints once the stack is up: where to click, where to look, what to run.

The ID the success page shows and the CLI takes is called the "user ID" throughout (it is the
OIDC ``sub``, Google's user ID, and the Firestore document ID).
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack.stack import LocalStack

_LABEL = 12


def render_banner(stack: LocalStack, env_file: Path, python: str, venv: Path | None = None) -> str:
    """The banner text.

    Args:
        stack: the running stack.
        env_file: the file of ``export`` lines written for it.
        python: the interpreter the suggested commands should use.
        venv: the virtual environment ``env_file`` puts first on ``PATH``, if it does; the
            commands then say plain ``python``.
    """
    if stack.sandbox_url is not None:
        mode = f"sandbox (the local stand-in for Google at {stack.sandbox_url})"
    else:
        assert stack.real_google is not None
        mode = f"real Google (client {stack.real_google.client_secrets})"
    lines = [
        "",
        "Local stack is up.",
        _row("Open", stack.authorize_url),
        _row("Mode", mode),
        _row("Callback", stack.redirect_uri),
    ]
    lines += _table("Functions", stack.function_urls)
    lines += _table("Sandbox", stack.sandbox_urls)
    lines += [
        _row(
            "Emulators",
            f"Firestore {stack.firestore_host}, Pub/Sub {stack.pubsub_host}"
            f" (project {stack.project})",
        ),
        _row("Data", _data(stack)),
        _row("Logs", f"{_short(str(stack.log_dir))}/"),
        "",
        "Next, after consenting (the success page shows your user ID):",
        f"  source {_short(str(env_file))}",
    ]
    cli = "python" if venv is not None else _short(python)
    lines += [
        f"  {cli} -m functions.cli read-mailbox USER_ID --query is:unread",
        f"  {cli} -m functions.cli list-users",
        f"  {cli} -m functions.cli show-user USER_ID",
    ]
    if venv is not None:
        lines.append(
            f"  ({_short(str(env_file))} puts {_short(str(venv / 'bin'))} first on PATH"
            " and points the CLI at this stack; in sh, use `.` for `source`.)"
        )
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def _data(stack: LocalStack) -> str:
    """Whether Firestore's data was kept from an earlier run, is new, or is not kept at all."""
    kept = stack.kept_data
    if kept is None:
        return "in memory only: nothing is kept after Ctrl-C"
    where = f"{_short(str(kept.directory))}/"
    if not stack.data_was_kept:
        return f"new (nothing kept yet); Firestore is saved to {where} on Ctrl-C"
    text = f"kept from the last run in {where} (`make dev-reset` deletes it)"
    if stack.sandbox_url is not None:
        text += "; the sandbox starts afresh, so its users consent again"
    return text


def _row(label: str, value: str) -> str:
    return f"  {label:<{_LABEL}}{value}"


def _table(label: str, urls: dict[str, str]) -> list[str]:
    """One row per URL, the first under ``label``."""
    width = max((len(name) for name in urls), default=0) + 2
    return [
        _row(label if index == 0 else "", f"{name:<{width}}{url}")
        for index, (name, url) in enumerate(urls.items())
    ]


def _short(path: str) -> str:
    """A path relative to the working directory when it lies below it, as a user would type it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
