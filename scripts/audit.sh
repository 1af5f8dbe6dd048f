#!/usr/bin/env bash
# Vulnerability audit of what Cloud Functions installs: pip-audit of the locked runtime set
# (requirements.txt, with its hashes, without pip resolving anything) against a vulnerability
# service: PyPI's JSON API by default, AUDIT_SERVICE=osv for OSV.
#
#   scripts/audit.sh            # as make test runs it
#
# It fails on any known vulnerability, except those listed in pip-audit-ignore.txt, one a line:
# the vulnerability ID (PYSEC-..., GHSA-..., CVE-...), then why it does not matter here; an entry
# without a reason fails the audit. It also fails, saying so, when the service cannot be reached
# or cannot answer for every package (pip-audit --strict): an audit that could not look is not a
# pass. AUDIT_UNREACHABLE=warn turns only that case into a warning; findings still fail.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PIP_AUDIT="${PIP_AUDIT:-$ROOT/.venv/bin/pip-audit}"
IGNORES="${AUDIT_IGNORES:-$ROOT/pip-audit-ignore.txt}"
SERVICE="${AUDIT_SERVICE:-pypi}"

ignore_args=()
while IFS= read -r line || [[ -n "$line" ]]; do
  line="${line#"${line%%[![:space:]]*}"}"  # leading blanks
  [[ -z "$line" || "$line" == \#* ]] && continue
  id="${line%%[[:space:]]*}"
  reason="${line#"$id"}"
  if [[ -z "${reason//[[:space:]]/}" ]]; then
    echo "audit.sh: ${IGNORES##*/} ignores $id without a reason; give one after the ID." >&2
    exit 2
  fi
  ignore_args+=(--ignore-vuln "$id")
done <"$IGNORES"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
"$PIP_AUDIT" --requirement "$ROOT/requirements.txt" --require-hashes --disable-pip --strict \
  --vulnerability-service "$SERVICE" --progress-spinner off ${ignore_args[@]+"${ignore_args[@]}"} \
  >"$log" 2>&1 || status=$?
if [[ "$status" == 0 ]]; then
  cat "$log"
  exit 0
fi
if grep -Eq '^Found [0-9]+ known vulnerabilit' "$log"; then
  cat "$log" >&2
  echo "audit.sh: requirements.txt has the known vulnerabilities above. Move the package on" \
    "(edit requirements.in, or make lock LOCK_FLAGS='-P NAME'), or list the ID in" \
    "pip-audit-ignore.txt with the reason it does not matter here." >&2
  exit 1
fi
tail -n 5 "$log" >&2
echo "audit.sh: requirements.txt was NOT audited: the vulnerability service ($SERVICE) could" \
  "not be reached or did not answer for every package (last lines above). The pypi service" \
  "reads pypi.org/pypi/NAME/VERSION/json; AUDIT_SERVICE=osv reads api.osv.dev." >&2
if [[ "${AUDIT_UNREACHABLE:-fail}" == warn ]]; then
  echo "audit.sh: WARNING: carrying on without an audit because AUDIT_UNREACHABLE=warn." >&2
  exit 0
fi
exit 3
