#!/usr/bin/env bash
# The browser tests drive Debian's Chromium with Playwright (Playwright cannot download its own
# browser here): install it with apt when it is missing.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi
sudo=""
if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
echo "Installing Debian's chromium for the browser tests" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
