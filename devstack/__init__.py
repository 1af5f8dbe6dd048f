"""The local stack behind ``make dev`` and the test suite's fixtures (docs/design.md §4).

Emulators, the Google sandbox and the functions run as child processes, each in its own process
group so that stopping the stack never leaves an emulator's Java process behind.
"""
