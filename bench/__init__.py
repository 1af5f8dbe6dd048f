"""``make bench``: cold starts, Google round trips and refresh storms, each against a baseline
measured in the same run (these machines are noisy, so only ratios are compared)."""
