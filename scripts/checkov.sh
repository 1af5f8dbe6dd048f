#!/usr/bin/env bash
# checkov on infra/, from its own virtualenv: checkov pins dozens of dependencies that must not
# meet the project's .venv. The venv is created on first use (and re-created when the pin below
# changes); later runs are offline. Arguments are passed on to checkov.
#
#   scripts/checkov.sh                    # scan infra/ as the test command does
#   scripts/checkov.sh --compact -o json  # any other checkov options
set -euo pipefail

CHECKOV_VERSION=3.3.30
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${CHECKOV_VENV:-$ROOT/.tools/checkov}"
PYTHON="${PYTHON:-python3}"
STAMP="$TOOLS/.installed-$CHECKOV_VERSION"

if [[ ! -f "$STAMP" ]]; then
  echo "checkov.sh: installing checkov $CHECKOV_VERSION into ${TOOLS#"$ROOT"/} (first use only)" >&2
  rm -rf "$TOOLS"
  "$PYTHON" -m venv "$TOOLS"
  if ! "$TOOLS/bin/python" -m pip install --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" >"$TOOLS/pip.log" 2>&1; then
    cat "$TOOLS/pip.log" >&2
    echo "checkov.sh: installing checkov failed (log above)." >&2
    exit 1
  fi
  touch "$STAMP"
fi

cd "$ROOT"
# --framework terraform: only the .tf files; the download of external modules and the Prisma
# Cloud API are both off, so the scan is static and offline.
exec "$TOOLS/bin/checkov" --directory infra --framework terraform --quiet --compact \
  --skip-download --download-external-modules false "$@"
