"""The baseline: the smallest function functions-framework can serve."""

import functions_framework


@functions_framework.http
def hello(request):  # type: ignore[no-untyped-def]
    """Say hello."""
    return "hello"
