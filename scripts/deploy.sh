#!/usr/bin/env bash
# Deploy with gcloud alone (no Terraform): the same APIs, service accounts, secrets, Firestore
# database, topics, functions, push subscriptions and scheduler job as infra/, with the same least
# privilege. Safe to run again: it creates what is missing, redeploys the functions, and removes
# what an earlier version granted that this one does not (on the secrets, the build account's
# project-wide grant, and the pipelines' topics and pull subscriptions: pass every
# --pipeline-publisher and --pipeline-consumer you still want on each run).
#
#   scripts/deploy.sh --project PROJECT --region REGION [--runtime RUNTIME]
#                     [--pipeline NAME ...] [--pipeline-publisher NAME=MEMBER ...]
#                     [--pipeline-consumer NAME=MEMBER ...]
#                     [--sizing FUNCTION.FIELD=VALUE ...] [--dry-run]
#
# --pipeline declares a pipeline (a consumer of mailbox data; default: one named "default"), each
# with its own requests, results and re-auth topics (REQUESTS_TOPIC, RESULTS_TOPIC and
# REAUTH_TOPIC are templates: {pipeline} is the name). --pipeline-publisher grants MEMBER (e.g.
# serviceAccount:crm@P.iam.gserviceaccount.com) roles/pubsub.publisher on NAME's requests topic
# (list_messages's account publishes there too: a read paused for Gmail's quota continues itself);
# --pipeline-consumer grants roles/pubsub.subscriber on NAME's results and re-auth topics and on
# their pull subscriptions (TOPIC-pull), as infra/ does. No Pub/Sub role is granted on the project.
#
# Only the entry points main.py declares are deployed, as infra/functions.json describes them
# (the definition Terraform follows too), on the Cloud Functions runtime RUNTIME (default: that
# of var.runtime in infra/variables.tf). --sizing overrides one field of a function's shipped
# sizing (memory, cpu, min_instances, max_instances, concurrency, timeout_seconds), e.g.
# --sizing list_messages.memory=1Gi; repeat it for more. --dry-run prints the gcloud commands
# instead of running them (it assumes nothing exists yet). Every setting is checked before the
# first change. The first run creates what is missing and stops if a secret has no version yet,
# naming each such secret and the command that adds it; the next run deploys. Settings come from
# the environment, with the defaults of infra/variables.tf:
#
#   ALLOWED_RETURN_TO        comma-separated URL prefixes return_to may start with (default: none)
#   INTERNAL_INVOKERS        comma-separated IAM members that may call disconnect and watch
#                            (user:, group:, serviceAccount:, domain:, principal:, principalSet:);
#                            not per pipeline: they may act on any user of any pipeline, so list
#                            the operators' tooling, never a pipeline's account
#   INTERNAL_HTTP_INGRESS    internal-only (default), internal-and-gclb or all, for those two
#                            (or Terraform's ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB, ALLOW_ALL)
#   OAUTH_CLIENT_ID          the OAuth client's ID (required; or --oauth-client-id): authorize
#                            uses it and mounts no client secret
#   OAUTH_SCOPES             space-separated scopes (default: the code's)
#   GMAIL_QUOTA_PROFILE      legacy or 2026: the project's Gmail per-user quota (default: legacy)
#   SERVICE_NAME             the service's name on the consent pages (default: none)
#   SUPPORT_URL, PRIVACY_POLICY_URL  https links in the pages' footer (default: none)
#   FIRESTORE_LOCATION       location of a new Firestore database (default: the region)
#   OAUTH_CLIENT_SECRET_ID   oauth-client          TOKEN_KEYS_SECRET_ID   token-keys
#   TOKEN_PUBLIC_KEYS_SECRET_ID token-public-keys  COOKIE_KEYS_SECRET_ID  cookie-keys
#   REQUESTS_TOPIC           mailbox-requests-{pipeline}  RESULTS_TOPIC   mailbox-results-{pipeline}
#   REAUTH_TOPIC             reauth-required-{pipeline}   GMAIL_PUSH_TOPIC       gmail-push
#   UPKEEP_TOPIC             daily-upkeep
#   DEAD_LETTER_TOPIC        mailbox-dead-letter   MAX_DELIVERY_ATTEMPTS  5
#   RENEW_WATCHES_SCHEDULE   "17 3 * * *"          SCHEDULER_TIME_ZONE    Etc/UTC
#   FUNCTIONS_DEFINITION     the definition to deploy (default: infra/functions.json)
#   SCHEDULER_REGION         where the Cloud Scheduler job lives (default: the region; Scheduler
#                            has its own list of regions)
#   RISC_OPERATORS           comma-separated members (user:ops@example.com) who may act as the
#                            risc-admin account to register the Cross-Account Protection receiver
#   PUBLIC_ACCESS            allUsers (default): anyone may invoke authorize, oauth2callback and
#                            security_events (Google posts security event tokens to it);
#                            invoker_iam_disabled: Cloud Run's invoker check is turned off instead,
#                            for organisations whose policy forbids allUsers (Domain Restricted
#                            Sharing)
#   IAM_PROPAGATION_SECONDS  wait after creating service accounts and granting them, before the
#                            first deploy (default 120; IAM changes take minutes to spread)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DRY_RUN=0
RUNTIME=python313 # the default of var.runtime in infra/variables.tf
PROJECT="${PROJECT:-}"
REGION="${REGION:-}"

SIZING=()
PIPELINES=()
PIPELINE_PUBLISHERS=()
PIPELINE_CONSUMERS=()
OAUTH_CLIENT_ID="${OAUTH_CLIENT_ID:-}"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --project=*) PROJECT="${1#*=}"; shift ;;
    --region) REGION="$2"; shift 2 ;;
    --region=*) REGION="${1#*=}"; shift ;;
    --pipeline) PIPELINES+=("$2"); shift 2 ;;
    --pipeline=*) PIPELINES+=("${1#*=}"); shift ;;
    --pipeline-publisher) PIPELINE_PUBLISHERS+=("$2"); shift 2 ;;
    --pipeline-publisher=*) PIPELINE_PUBLISHERS+=("${1#*=}"); shift ;;
    --pipeline-consumer) PIPELINE_CONSUMERS+=("$2"); shift 2 ;;
    --pipeline-consumer=*) PIPELINE_CONSUMERS+=("${1#*=}"); shift ;;
    --sizing) SIZING+=("$2"); shift 2 ;;
    --sizing=*) SIZING+=("${1#*=}"); shift ;;
    --oauth-client-id) OAUTH_CLIENT_ID="$2"; shift 2 ;;
    --oauth-client-id=*) OAUTH_CLIENT_ID="${1#*=}"; shift ;;
    --runtime) RUNTIME="$2"; shift 2 ;;
    --runtime=*) RUNTIME="${1#*=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "$PROJECT" && "$DRY_RUN" == 0 ]]; then
  PROJECT="$(gcloud config get-value project 2>/dev/null || true)"
fi
if [[ -z "$PROJECT" || -z "$REGION" ]]; then
  echo "deploy.sh: give --project PROJECT and --region REGION (or set PROJECT and REGION)." >&2
  exit 2
fi

OAUTH_CLIENT_SECRET_ID="${OAUTH_CLIENT_SECRET_ID:-oauth-client}"
TOKEN_KEYS_SECRET_ID="${TOKEN_KEYS_SECRET_ID:-token-keys}"
TOKEN_PUBLIC_KEYS_SECRET_ID="${TOKEN_PUBLIC_KEYS_SECRET_ID:-token-public-keys}"
COOKIE_KEYS_SECRET_ID="${COOKIE_KEYS_SECRET_ID:-cookie-keys}"
REQUESTS_TOPIC="${REQUESTS_TOPIC:-mailbox-requests-{pipeline\}}"
RESULTS_TOPIC="${RESULTS_TOPIC:-mailbox-results-{pipeline\}}"
REAUTH_TOPIC="${REAUTH_TOPIC:-reauth-required-{pipeline\}}"
[[ ${#PIPELINES[@]} -gt 0 ]] || PIPELINES=(default)
GMAIL_PUSH_TOPIC="${GMAIL_PUSH_TOPIC:-gmail-push}"
UPKEEP_TOPIC="${UPKEEP_TOPIC:-daily-upkeep}"
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-mailbox-dead-letter}"
MAX_DELIVERY_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-5}"
RENEW_WATCHES_SCHEDULE="${RENEW_WATCHES_SCHEDULE:-17 3 * * *}"
SCHEDULER_TIME_ZONE="${SCHEDULER_TIME_ZONE:-Etc/UTC}"
FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-$REGION}"
INTERNAL_HTTP_INGRESS="${INTERNAL_HTTP_INGRESS:-internal-only}"
ALLOWED_RETURN_TO="${ALLOWED_RETURN_TO:-}"
INTERNAL_INVOKERS="${INTERNAL_INVOKERS:-}"
RISC_OPERATORS="${RISC_OPERATORS:-}"
OAUTH_SCOPES="${OAUTH_SCOPES:-}"
GMAIL_QUOTA_PROFILE="${GMAIL_QUOTA_PROFILE:-}"
SERVICE_NAME="${SERVICE_NAME:-}"
SUPPORT_URL="${SUPPORT_URL:-}"
PRIVACY_POLICY_URL="${PRIVACY_POLICY_URL:-}"
FUNCTIONS_DEFINITION="${FUNCTIONS_DEFINITION:-}"
SCHEDULER_REGION="${SCHEDULER_REGION:-$REGION}"
PUBLIC_ACCESS="${PUBLIC_ACCESS:-allUsers}"
IAM_PROPAGATION_SECONDS="${IAM_PROPAGATION_SECONDS:-120}"

# --- Every setting is checked before the first change, each refusal one sentence naming it. ---
PROBLEMS=()
refuse() { PROBLEMS+=("$*"); }

# Project IDs: lowercase letters, digits and hyphens, starting with a letter, at most 30.
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{0,28}[a-z0-9]$ ]] ||
  refuse "--project must be a project ID (lowercase letters, digits and hyphens, starting with a letter), not '${PROJECT}'."
[[ "$REGION" =~ ^[a-z]+(-[a-z]+)+[0-9]+$ ]] ||
  refuse "--region must be a Google Cloud region such as europe-west1, not '${REGION}'."
[[ "$FIRESTORE_LOCATION" =~ ^[a-z0-9-]+$ ]] ||
  refuse "FIRESTORE_LOCATION must be a Firestore location such as eur3 or europe-west1, not '${FIRESTORE_LOCATION}'."
for setting in SUPPORT_URL PRIVACY_POLICY_URL; do
  [[ -z "${!setting}" || "${!setting}" =~ ^https://[^[:space:]]+$ ]] ||
    refuse "${setting} must be an https:// URL, or empty, not '${!setting}'."
done
[[ "$OAUTH_CLIENT_ID" =~ ^[A-Za-z0-9._-]{1,255}$ ]] ||
  refuse "--oauth-client-id (or OAUTH_CLIENT_ID) must be the OAuth client's ID (…apps.googleusercontent.com, from the console), not '${OAUTH_CLIENT_ID}'."
[[ "$SERVICE_NAME" != *"|"* ]] ||
  refuse "SERVICE_NAME must not contain |, not '${SERVICE_NAME}'."
[[ "$SCHEDULER_REGION" =~ ^[a-z]+(-[a-z]+)+[0-9]+$ ]] ||
  refuse "SCHEDULER_REGION must be a Cloud Scheduler region such as europe-west1, not '${SCHEDULER_REGION}'."
[[ "$PUBLIC_ACCESS" == allUsers || "$PUBLIC_ACCESS" == invoker_iam_disabled ]] ||
  refuse "PUBLIC_ACCESS must be allUsers or invoker_iam_disabled, not '${PUBLIC_ACCESS}'."
[[ "$IAM_PROPAGATION_SECONDS" =~ ^[0-9]{1,4}$ ]] ||
  refuse "IAM_PROPAGATION_SECONDS must be a whole number of seconds, not '${IAM_PROPAGATION_SECONDS}'."
[[ "$RUNTIME" =~ ^python3[0-9]+$ ]] ||
  refuse "--runtime must be a Cloud Functions Python runtime ID such as python313, not ${RUNTIME}."

# gcloud's spelling of an ingress setting, from either its own or Terraform's (infra/variables.tf).
case "$INTERNAL_HTTP_INGRESS" in
  all | ALLOW_ALL) INTERNAL_HTTP_INGRESS=all ;;
  internal-only | ALLOW_INTERNAL_ONLY) INTERNAL_HTTP_INGRESS=internal-only ;;
  internal-and-gclb | ALLOW_INTERNAL_AND_GCLB) INTERNAL_HTTP_INGRESS=internal-and-gclb ;;
  *) refuse "INTERNAL_HTTP_INGRESS must be internal-only, internal-and-gclb or all (or ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB, ALLOW_ALL), not '${INTERNAL_HTTP_INGRESS}'." ;;
esac

case "$GMAIL_QUOTA_PROFILE" in
  "" | legacy | 2026) ;;
  *) refuse "GMAIL_QUOTA_PROFILE must be legacy or 2026 (the project's Gmail per-user quota), not '${GMAIL_QUOTA_PROFILE}'." ;;
esac
# Pipelines: a lowercase letter, then up to 29 lowercase letters, digits or hyphens.
for pipeline in "${PIPELINES[@]}"; do
  [[ "$pipeline" =~ ^[a-z][a-z0-9-]{0,29}$ ]] ||
    refuse "--pipeline must be a lowercase letter and up to 29 lowercase letters, digits or hyphens, not '${pipeline}'."
done
# The topic of a pipeline: the template with {pipeline} replaced by its name.
pipeline_topic() { local template="$1"; printf '%s' "${template//\{pipeline\}/$2}"; }
for setting in REQUESTS_TOPIC RESULTS_TOPIC REAUTH_TOPIC; do
  [[ ${#PIPELINES[@]} -le 1 || "${!setting}" == *"{pipeline}"* ]] ||
    refuse "${setting} must hold {pipeline} when there are several pipelines (each has its own topic), not '${!setting}'."
done
# Pub/Sub topic IDs: 3-255 characters, starting with a letter, never starting with "goog".
for setting in REQUESTS_TOPIC RESULTS_TOPIC REAUTH_TOPIC GMAIL_PUSH_TOPIC UPKEEP_TOPIC DEAD_LETTER_TOPIC; do
  value="$(pipeline_topic "${!setting}" "${PIPELINES[0]}")"
  if [[ ! "$value" =~ ^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$ || "$value" =~ ^[gG][oO][oO][gG] ]]; then
    refuse "${setting} must be a Pub/Sub topic ID (3-255 letters, digits and - _ . ~ + %, starting with a letter, not with goog; {pipeline} stands for a pipeline's name), not '${!setting}'."
  fi
done
# --pipeline-publisher and --pipeline-consumer: NAME=MEMBER, NAME a declared pipeline, MEMBER a
# principal (never allUsers or allAuthenticatedUsers).
for grant in ${PIPELINE_PUBLISHERS[@]+"${PIPELINE_PUBLISHERS[@]}"} ${PIPELINE_CONSUMERS[@]+"${PIPELINE_CONSUMERS[@]}"}; do
  pipeline="${grant%%=*}" member="${grant#*=}"
  [[ " ${PIPELINES[*]} " == *" ${pipeline} "* ]] ||
    refuse "--pipeline-publisher and --pipeline-consumer take NAME=MEMBER with NAME a --pipeline, not '${grant}'."
  [[ "$member" =~ ^(user|group|serviceAccount):[^@[:space:]]+@[^@[:space:]]+$ ||
    "$member" =~ ^domain:[A-Za-z0-9.-]+\.[A-Za-z]+$ ||
    "$member" =~ ^(principal|principalSet)://[^[:space:]]+$ ]] ||
    refuse "--pipeline-publisher and --pipeline-consumer must name a principal (user:, group:, serviceAccount:, domain:, principal:, principalSet:), not '${member}'."
done
# Secret Manager secret IDs: at most 255 letters, digits, hyphens and underscores.
for setting in OAUTH_CLIENT_SECRET_ID TOKEN_KEYS_SECRET_ID TOKEN_PUBLIC_KEYS_SECRET_ID COOKIE_KEYS_SECRET_ID; do
  [[ "${!setting}" =~ ^[A-Za-z0-9_-]{1,255}$ ]] ||
    refuse "${setting} must be a secret ID (letters, digits, - and _), not '${!setting}'."
done
[[ "$MAX_DELIVERY_ATTEMPTS" =~ ^[0-9]{1,3}$ ]] && ((10#$MAX_DELIVERY_ATTEMPTS >= 5 && 10#$MAX_DELIVERY_ATTEMPTS <= 100)) ||
  refuse "MAX_DELIVERY_ATTEMPTS must be a whole number from 5 to 100, as Pub/Sub allows, not '${MAX_DELIVERY_ATTEMPTS}'."
[[ -n "${RENEW_WATCHES_SCHEDULE// /}" ]] ||
  refuse "RENEW_WATCHES_SCHEDULE must be a cron schedule such as '17 3 * * *', not empty."
[[ -n "${SCHEDULER_TIME_ZONE// /}" && ! "$SCHEDULER_TIME_ZONE" =~ [[:space:]] ]] ||
  refuse "SCHEDULER_TIME_ZONE must be a time zone such as Etc/UTC, not '${SCHEDULER_TIME_ZONE}'."

# INTERNAL_INVOKERS: each member trimmed, empty ones dropped, principals only.
INVOKERS=()
IFS=',' read -r -a members <<<"$INTERNAL_INVOKERS"
for member in ${members[@]+"${members[@]}"}; do
  member="${member#"${member%%[![:space:]]*}"}"
  member="${member%"${member##*[![:space:]]}"}"
  [[ -n "$member" ]] || continue
  if [[ "$member" == allUsers || "$member" == allAuthenticatedUsers ]]; then
    refuse "INTERNAL_INVOKERS must name principals, never ${member}."
  elif [[ "$member" =~ ^(user|group|serviceAccount):[^@[:space:]]+@[^@[:space:]]+$ ||
    "$member" =~ ^domain:[A-Za-z0-9.-]+\.[A-Za-z]+$ ||
    "$member" =~ ^(principal|principalSet)://[^[:space:]]+$ ]]; then
    INVOKERS+=("$member")
  else
    refuse "INTERNAL_INVOKERS must list user:EMAIL, group:EMAIL, serviceAccount:EMAIL, domain:DOMAIN, principal://... or principalSet://..., not '${member}'."
  fi
done

# RISC_OPERATORS: the same, users, groups or service accounts only.
OPERATORS=()
IFS=',' read -r -a members <<<"$RISC_OPERATORS"
for member in ${members[@]+"${members[@]}"}; do
  member="${member//[[:space:]]/}"
  [[ -n "$member" ]] || continue
  [[ "$member" =~ ^(user|group|serviceAccount):[^@[:space:]]+@[^@[:space:]]+$ ]] ||
    refuse "RISC_OPERATORS must list user:EMAIL, group:EMAIL or serviceAccount:EMAIL, not '${member}'."
  OPERATORS+=("$member")
done

CREDENTIALS_COLLECTION=gmail_credentials
AUTH_SESSIONS_COLLECTION=oauth_sessions
EVENTS_COLLECTION=processed_events
FUNCTIONS_HOST="https://${REGION}-${PROJECT}.cloudfunctions.net"
BUILD_SA="functions-build@${PROJECT}.iam.gserviceaccount.com"
PUSH_SA="pubsub-push-invoker@${PROJECT}.iam.gserviceaccount.com"
SCHEDULER_SA="scheduler-invoker@${PROJECT}.iam.gserviceaccount.com"
RISC_SA="risc-admin@${PROJECT}.iam.gserviceaccount.com"
REPOSITORY="projects/${PROJECT}/locations/${REGION}/repositories/functions"

# --- How each entry point is deployed: the one definition, infra/functions.json. ---
# devstack/deployment.py reads it (standard library only) with this deployment's settings and
# prints one line of shell assignments per entry point of main.py: KEY NAME TRIGGER
# SIGNATURE_TYPE SUBSCRIPTIONS ACCESS SCHEDULE FIRESTORE PUBLISHES SECRET_IDS SECRET_MOUNTS ENV_VARS
# MEMORY CPU MIN_INSTANCES MAX_INSTANCES CONCURRENCY TIMEOUT. Terraform reads the same file.
definition() {
  local args=(--project="$PROJECT" --region="$REGION"
    --topic=requests="$REQUESTS_TOPIC" --topic=results="$RESULTS_TOPIC"
    --topic=reauth="$REAUTH_TOPIC" --topic=gmail_push="$GMAIL_PUSH_TOPIC"
    --topic=upkeep="$UPKEEP_TOPIC" --topic=dead_letter="$DEAD_LETTER_TOPIC"
    --secret=oauth_client="$OAUTH_CLIENT_SECRET_ID" --secret=token_keys="$TOKEN_KEYS_SECRET_ID"
    --secret=token_public_keys="$TOKEN_PUBLIC_KEYS_SECRET_ID"
    --secret=cookie_keys="$COOKIE_KEYS_SECRET_ID"
    --collection=credentials="$CREDENTIALS_COLLECTION" --collection=events="$EVENTS_COLLECTION"
    --collection=auth_sessions="$AUTH_SESSIONS_COLLECTION"
    --oauth-client-id="$OAUTH_CLIENT_ID"
    --scopes="$OAUTH_SCOPES" --gmail-quota-profile="$GMAIL_QUOTA_PROFILE"
    --allowed-return-to="$ALLOWED_RETURN_TO"
    --page-setting=SERVICE_NAME="$SERVICE_NAME" --page-setting=SUPPORT_URL="$SUPPORT_URL"
    --page-setting=PRIVACY_POLICY_URL="$PRIVACY_POLICY_URL")
  local item
  for item in "${PIPELINES[@]}"; do args+=(--pipeline="$item"); done
  for item in ${SIZING[@]+"${SIZING[@]}"}; do args+=(--sizing="$item"); done
  [[ -z "$FUNCTIONS_DEFINITION" ]] || args+=(--definition="$FUNCTIONS_DEFINITION")
  (cd "$ROOT" && python3 -m devstack.deployment "${args[@]}")
}

# --- Running (or, with --dry-run, printing) gcloud. ---

run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
  else
    "$@"
  fi
}

# Whether a resource exists: its describe command succeeds (yes) or fails with NOT_FOUND (no). Any
# other failure (no permission, API disabled, not logged in) stops here, with gcloud's message,
# rather than surfacing later as ALREADY_EXISTS. A dry run assumes nothing exists.
exists() {
  [[ "$DRY_RUN" == 0 ]] || return 1
  local error
  error="$("$@" 2>&1 >/dev/null)" && return 0
  grep -qE 'NOT_FOUND|HTTPError 404|code=404|\[404\]|\] not found' <<<"$error" && return 1
  echo "deploy.sh: could not tell whether the resource of \`$*\` exists; gcloud says:" >&2
  echo "$error" >&2
  exit 1
}

step() { echo "==> $*" >&2; }

# Reads that a dry run cannot make, answered with a placeholder.
read_value() {
  local placeholder="$1"
  shift
  if [[ "$DRY_RUN" == 1 ]]; then echo "$placeholder"; else "$@"; fi
}

G=(--project="$PROJECT" --quiet)

# The definition refuses unknown entry points and sizing with a sentence of its own.
DEFINITION="$(definition)" || PROBLEMS+=("")
if [[ ${#PROBLEMS[@]} -gt 0 ]]; then
  for problem in "${PROBLEMS[@]}"; do [[ -z "$problem" ]] || echo "deploy.sh: $problem" >&2; done
  echo "deploy.sh: nothing was changed (see --help)." >&2
  exit 2
fi
DEPLOYED=()
while IFS= read -r line; do DEPLOYED+=("$line"); done <<<"$DEFINITION"
if [[ ${#DEPLOYED[@]} -eq 0 || -z "${DEPLOYED[0]}" ]]; then
  echo "deploy.sh: main.py declares no entry points." >&2
  exit 1
fi
# The secrets the deployed functions mount, each once, in the order they first appear.
SECRETS=()
for line in "${DEPLOYED[@]}"; do
  eval "$line"
  for secret_id in $SECRET_IDS; do
    [[ " ${SECRETS[*]-} " == *" $secret_id "* ]] || SECRETS+=("$secret_id")
  done
done

step "APIs"
run gcloud services enable artifactregistry.googleapis.com cloudbuild.googleapis.com \
  cloudresourcemanager.googleapis.com \
  cloudfunctions.googleapis.com cloudscheduler.googleapis.com firebaserules.googleapis.com \
  firestore.googleapis.com gmail.googleapis.com iam.googleapis.com pubsub.googleapis.com \
  run.googleapis.com secretmanager.googleapis.com storage.googleapis.com "${G[@]}"

PROJECT_NUMBER="$(read_value PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"

# The command that adds a first version of a secret (docs/deploying.md, step 4).
add_version_command() {
  case "$1" in
    "$OAUTH_CLIENT_SECRET_ID")
      echo "  gcloud secrets versions add $1 --data-file=client_secret_XXXX.json --project=$PROJECT"
      echo "    (the OAuth client's JSON, downloaded from the console)" ;;
    "$TOKEN_KEYS_SECRET_ID")
      echo "  python -m functions.cli token-keys add --id tk-1 \\"
      echo "    | gcloud secrets versions add $1 --data-file=- --project=$PROJECT" ;;
    "$TOKEN_PUBLIC_KEYS_SECRET_ID")
      echo "  (after the token keys) TOKEN_ENCRYPTION_KEYS=projects/$PROJECT/secrets/$TOKEN_KEYS_SECRET_ID/versions/latest \\"
      echo "    python -m functions.cli token-keys public | gcloud secrets versions add $1 --data-file=- --project=$PROJECT" ;;
    "$COOKIE_KEYS_SECRET_ID")
      # shellcheck disable=SC2016 # the Python is printed, not run
      echo "  python3 -c 'import base64, json, os; print(json.dumps({\"primary\": \"c1\", \"keys\": {\"c1\": base64.b64encode(os.urandom(32)).decode()}}))' \\"
      echo "    | gcloud secrets versions add $1 --data-file=- --project=$PROJECT" ;;
    *) echo "  gcloud secrets versions add $1 --data-file=FILE --project=$PROJECT" ;;
  esac
}

step "Secrets (values are added by you, never by this script)"
for secret in ${SECRETS[@]+"${SECRETS[@]}"}; do
  exists gcloud secrets describe "$secret" "${G[@]}" ||
    run gcloud secrets create "$secret" --replication-policy=automatic "${G[@]}"
done
if [[ "$DRY_RUN" == 0 ]]; then
  EMPTY=()
  for secret in ${SECRETS[@]+"${SECRETS[@]}"}; do
    version="$(gcloud secrets versions list "$secret" --filter=state:ENABLED --limit=1 \
      --format='value(name)' "${G[@]}")"
    [[ -n "$version" ]] || EMPTY+=("$secret")
  done
  if [[ ${#EMPTY[@]} -gt 0 ]]; then
    {
      echo "deploy.sh: these secrets have no version yet: ${EMPTY[*]}. Add one to each, then run this again:"
      for secret in "${EMPTY[@]}"; do add_version_command "$secret"; done
      echo "(docs/deploying.md, step 4, says what goes in each.)"
    } >&2
    exit 1
  fi
fi

step "Firestore: database, TTL on expires_at of ${AUTH_SESSIONS_COLLECTION}, ${EVENTS_COLLECTION}, security_events, leases and gmail_slots, deny-all client rules"
exists gcloud firestore databases describe --database='(default)' "${G[@]}" ||
  run gcloud firestore databases create --database='(default)' --location="$FIRESTORE_LOCATION" \
    --type=firestore-native --delete-protection --enable-pitr "${G[@]}"
for collection in "$AUTH_SESSIONS_COLLECTION" "$EVENTS_COLLECTION" security_events leases gmail_slots; do
  run gcloud firestore fields ttls update expires_at --collection-group="$collection" \
    --enable-ttl --async "${G[@]}"
  run gcloud firestore indexes fields update expires_at \
    --collection-group="$collection" --disable-indexes --async "${G[@]}"
done

# Security rules have no gcloud command: the Firebase Rules REST API, as the gcloud account.
# The access token goes to curl in a config file only this user can read, never on its command
# line (which `ps` shows). Nothing is uploaded when the released ruleset already holds the file.
RULES_FILE="$ROOT/infra/firestore.rules"
WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

# rules_api METHOD PATH [BODY_FILE]: prints the HTTP status; the response is in $WORK/response,
# curl's own complaint (if it could not reach the API) in $WORK/curl-error.
rules_api() {
  local args=(--silent --show-error --config "$WORK/curl.conf" -X "$1" -o "$WORK/response"
    -w '%{http_code}')
  [[ -z "${3:-}" ]] || args+=(--data-binary "@$3")
  curl "${args[@]}" "https://firebaserules.googleapis.com/v1/$2" 2>"$WORK/curl-error" || true
}
rules_failed() {  # SENTENCE STATUS: the script's sentence, then the API's (or curl's) own words.
  echo "deploy.sh: $1 (HTTP $2)." >&2
  cat "$WORK/curl-error" "$WORK/response" >&2 2>/dev/null || true
  echo >&2
  exit 1
}
# rules_json MODE ...: `ruleset-name RESPONSE` prints a release's rulesetName, `name RESPONSE` a
# ruleset's name; `same RESPONSE FILE` succeeds when a ruleset's source is exactly FILE;
# `ruleset FILE` and `release NAME RULESET` print request bodies.
rules_json() {
  python3 - "$@" <<'PY'
import json, sys
mode, *args = sys.argv[1:]
def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()
if mode == "ruleset-name":
    print(json.loads(read(args[0])).get("rulesetName", ""))
elif mode == "name":
    print(json.loads(read(args[0]))["name"])
elif mode == "same":
    files = json.loads(read(args[0])).get("source", {}).get("files", [])
    sys.exit(0 if [file.get("content") for file in files] == [read(args[1])] else 1)
elif mode == "ruleset":
    print(json.dumps({"source": {"files": [{"name": "firestore.rules", "content": read(args[0])}]}}))
elif mode == "release":
    print(json.dumps({"name": args[0], "rulesetName": args[1]}))
PY
}

release_rules() {
  WORK="$(mktemp -d)"  # mode 700
  local token status released="" ruleset release="projects/${PROJECT}/releases/cloud.firestore"
  token="$(gcloud auth print-access-token)"
  (
    umask 077
    printf 'header = "%s"\n' "Authorization: Bearer ${token}" "x-goog-user-project: ${PROJECT}" \
      "Content-Type: application/json" >"$WORK/curl.conf"
  )

  status="$(rules_api GET "${release}")"
  case "$status" in
    200) released="$(rules_json ruleset-name "$WORK/response")" ;;
    404) ;;
    *) rules_failed "reading the release cloud.firestore of the Firestore security rules failed" "$status" ;;
  esac
  if [[ -n "$released" ]]; then
    status="$(rules_api GET "$released")"
    [[ "$status" == 200 ]] ||
      rules_failed "reading the released ruleset $released failed" "$status"
    if rules_json same "$WORK/response" "$RULES_FILE"; then
      echo "    infra/firestore.rules is already released ($released)" >&2
      return
    fi
  fi

  rules_json ruleset "$RULES_FILE" >"$WORK/ruleset.json"
  status="$(rules_api POST "projects/${PROJECT}/rulesets" "$WORK/ruleset.json")"
  [[ "$status" == 200 ]] ||
    rules_failed "creating a ruleset from infra/firestore.rules failed" "$status"
  ruleset="$(rules_json name "$WORK/response")"
  if [[ -n "$released" ]]; then
    printf '{"release": %s}\n' "$(rules_json release "$release" "$ruleset")" >"$WORK/release.json"
    status="$(rules_api PATCH "$release" "$WORK/release.json")"
  else
    rules_json release "$release" "$ruleset" >"$WORK/release.json"
    status="$(rules_api POST "projects/${PROJECT}/releases" "$WORK/release.json")"
  fi
  [[ "$status" == 200 ]] ||
    rules_failed "releasing ruleset $ruleset as cloud.firestore failed" "$status"
}
if [[ "$DRY_RUN" == 1 ]]; then
  echo "# release infra/firestore.rules as cloud.firestore (Firebase Rules REST API)"
else
  release_rules
fi

step "Topics: each pipeline's requests, results and re-auth topics; Gmail push; daily upkeep; dead letters"
for topic in "$GMAIL_PUSH_TOPIC" "$UPKEEP_TOPIC" "$DEAD_LETTER_TOPIC"; do
  exists gcloud pubsub topics describe "$topic" "${G[@]}" ||
    run gcloud pubsub topics create "$topic" "${G[@]}"
done
for pipeline in "${PIPELINES[@]}"; do
  requests="$(pipeline_topic "$REQUESTS_TOPIC" "$pipeline")"
  for topic in "$requests" "$(pipeline_topic "$RESULTS_TOPIC" "$pipeline")" "$(pipeline_topic "$REAUTH_TOPIC" "$pipeline")"; do
    exists gcloud pubsub topics describe "$topic" "${G[@]}" ||
      run gcloud pubsub topics create "$topic" "${G[@]}"
  done
  # Its consumers read results and re-auth events from pull subscriptions made for them
  # (creating one needs a project-level permission, which pipelines are not given).
  for topic in "$(pipeline_topic "$RESULTS_TOPIC" "$pipeline")" "$(pipeline_topic "$REAUTH_TOPIC" "$pipeline")"; do
    exists gcloud pubsub subscriptions describe "${topic}-pull" "${G[@]}" ||
      run gcloud pubsub subscriptions create "${topic}-pull" --topic="$topic" \
        --ack-deadline=60 --message-retention-duration=7d --expiration-period=never "${G[@]}"
    for grant in ${PIPELINE_CONSUMERS[@]+"${PIPELINE_CONSUMERS[@]}"}; do
      [[ "${grant%%=*}" == "$pipeline" ]] || continue
      run gcloud pubsub topics add-iam-policy-binding "$topic" \
        --member="${grant#*=}" --role=roles/pubsub.subscriber "${G[@]}"
      run gcloud pubsub subscriptions add-iam-policy-binding "${topic}-pull" \
        --member="${grant#*=}" --role=roles/pubsub.subscriber "${G[@]}"
    done
  done
  # Its publishers may publish mailbox requests to its requests topic, and to nothing else.
  for grant in ${PIPELINE_PUBLISHERS[@]+"${PIPELINE_PUBLISHERS[@]}"}; do
    [[ "${grant%%=*}" == "$pipeline" ]] || continue
    run gcloud pubsub topics add-iam-policy-binding "$requests" \
      --member="${grant#*=}" --role=roles/pubsub.publisher "${G[@]}"
  done
done
run gcloud pubsub topics add-iam-policy-binding "$GMAIL_PUSH_TOPIC" \
  --member=serviceAccount:gmail-api-push@system.gserviceaccount.com --role=roles/pubsub.publisher "${G[@]}"
run gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" \
  --member="$PUBSUB_AGENT" --role=roles/pubsub.publisher "${G[@]}"
exists gcloud pubsub subscriptions describe "${DEAD_LETTER_TOPIC}-hold" "${G[@]}" ||
  run gcloud pubsub subscriptions create "${DEAD_LETTER_TOPIC}-hold" --topic="$DEAD_LETTER_TOPIC" \
    --ack-deadline=60 --message-retention-duration=7d --expiration-period=never "${G[@]}"

step "Service accounts (no keys) and their roles"
CREATED_ACCOUNTS=0
service_account() {  # ACCOUNT_ID DISPLAY_NAME
  if ! exists gcloud iam service-accounts describe "$1@${PROJECT}.iam.gserviceaccount.com" "${G[@]}"; then
    run gcloud iam service-accounts create "$1" --display-name="$2" "${G[@]}"
    CREATED_ACCOUNTS=1
  fi
}
service_account functions-build "Cloud Functions build"
service_account pubsub-push-invoker "Pub/Sub push invoker"
service_account scheduler-invoker "Cloud Scheduler invoker"
# Cross-Account Protection: `functions.cli risc register` acts as this account (docs/deploying.md).
service_account risc-admin "Cross-Account Protection stream admin"
run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${RISC_SA}" \
  --role=roles/riscconfigs.admin --condition=None --quiet
for member in ${OPERATORS[@]+"${OPERATORS[@]}"}; do
  run gcloud iam service-accounts add-iam-policy-binding "$RISC_SA" --member="$member" \
    --role=roles/iam.serviceAccountTokenCreator "${G[@]}"
done
run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${BUILD_SA}" \
  --role=roles/logging.logWriter --condition=None --quiet
# The build reads the source Cloud Functions copies into gcf-v2-sources-NUMBER-REGION, no other
# bucket (infra/service_accounts.tf: the bucket appears on the first deployment, hence a condition).
SOURCES="projects/_/buckets/gcf-v2-sources-${PROJECT_NUMBER}-${REGION}"
run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${BUILD_SA}" \
  --role=roles/storage.objectViewer --quiet \
  --condition="expression=resource.name == \"${SOURCES}\" || resource.name.startsWith(\"${SOURCES}/\"),title=function-source-buckets-only"
exists gcloud artifacts repositories describe functions --location="$REGION" "${G[@]}" ||
  run gcloud artifacts repositories create functions --repository-format=docker \
    --location="$REGION" --description="Images of the Cloud Functions, built by Cloud Build." "${G[@]}"
run gcloud artifacts repositories add-iam-policy-binding functions --location="$REGION" \
  --member="serviceAccount:${BUILD_SA}" --role=roles/artifactregistry.writer "${G[@]}"
run gcloud iam service-accounts add-iam-policy-binding "$PUSH_SA" --member="$PUBSUB_AGENT" \
  --role=roles/iam.serviceAccountTokenCreator "${G[@]}"

for line in "${DEPLOYED[@]}"; do
  eval "$line"
  sa="fn-${NAME}@${PROJECT}.iam.gserviceaccount.com"
  service_account "fn-${NAME}" "Cloud Function ${NAME}"
  if [[ $FIRESTORE == 1 ]]; then
    run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${sa}" \
      --role=roles/datastore.user --quiet \
      --condition="expression=resource.name == \"projects/${PROJECT}/databases/(default)\",title=app-database-only"
  fi
  for secret_id in $SECRET_IDS; do
    run gcloud secrets add-iam-policy-binding "$secret_id" --member="serviceAccount:${sa}" \
      --role=roles/secretmanager.secretAccessor "${G[@]}"
  done
  for topic_id in $PUBLISHES; do
    run gcloud pubsub topics add-iam-policy-binding "$topic_id" --member="serviceAccount:${sa}" \
      --role=roles/pubsub.publisher "${G[@]}"
  done
done

# A new account's grants take minutes to reach every Google service: a function deployed at once
# could fail to build (the build account) or to start (its secrets). Only the first run waits.
if [[ "$CREATED_ACCOUNTS" == 1 && "$DRY_RUN" == 0 && "$IAM_PROPAGATION_SECONDS" != 0 ]]; then
  step "Waiting ${IAM_PROPAGATION_SECONDS} s for the new accounts' grants to spread (IAM_PROPAGATION_SECONDS)"
  sleep "$IAM_PROPAGATION_SECONDS"
fi

step "Functions (from ${ROOT}: .gcloudignore uploads only what a function needs)"
for line in "${DEPLOYED[@]}"; do
  eval "$line"
  case "$ACCESS" in
    public)
      ingress=all
      if [[ "$PUBLIC_ACCESS" == allUsers ]]; then
        access=--allow-unauthenticated
      else
        access=--no-allow-unauthenticated
      fi ;;
    internal) access=--no-allow-unauthenticated ingress="$INTERNAL_HTTP_INGRESS" ;;
    *) access=--no-allow-unauthenticated ingress=internal-only ;;
  esac
  # The definition's secret mounts and nothing else: a function that mounts none loses any it had.
  if [[ -n "$SECRET_MOUNTS" ]]; then
    secrets=(--set-secrets="$SECRET_MOUNTS")
  else
    secrets=(--clear-secrets)
  fi
  run gcloud functions deploy "$NAME" --gen2 --region="$REGION" --runtime="$RUNTIME" \
    --source="$ROOT" --entry-point="$KEY" --trigger-http "$access" \
    --ingress-settings="$ingress" --service-account="fn-${NAME}@${PROJECT}.iam.gserviceaccount.com" \
    --build-service-account="projects/${PROJECT}/serviceAccounts/${BUILD_SA}" \
    --docker-repository="$REPOSITORY" --memory="$MEMORY" --cpu="$CPU" \
    --concurrency="$CONCURRENCY" --timeout="${TIMEOUT}s" --min-instances="$MIN_INSTANCES" \
    --max-instances="$MAX_INSTANCES" --set-env-vars="$ENV_VARS" "${secrets[@]}" "${G[@]}"

  uri="$(read_value "https://${NAME}-HASH.run.app" gcloud functions describe "$NAME" --gen2 \
    --region="$REGION" --format='value(serviceConfig.uri)' "${G[@]}")"
  if [[ "$ACCESS" == public ]]; then
    if [[ "$PUBLIC_ACCESS" == invoker_iam_disabled ]]; then
      # Anyone may call it without an allUsers binding: Cloud Run skips the invoker check.
      run gcloud run services update "$NAME" --region="$REGION" --no-invoker-iam-check "${G[@]}"
    fi
    continue
  elif [[ "$TRIGGER" == pubsub ]]; then
    invokers=("serviceAccount:${PUSH_SA}")
  elif [[ "$SCHEDULE" == 1 ]]; then
    invokers=("serviceAccount:${SCHEDULER_SA}")
  else
    invokers=(${INVOKERS[@]+"${INVOKERS[@]}"})
  fi
  for member in ${invokers[@]+"${invokers[@]}"}; do
    run gcloud functions add-invoker-policy-binding "$NAME" --region="$REGION" \
      --member="$member" "${G[@]}"
  done

  # The trigger: a push subscription per topic (one per pipeline for list_messages) with an
  # explicit retry policy and a dead-letter policy; the endpoint's path names the topic.
  for pair in $SUBSCRIPTIONS; do
    subscription="${pair%%=*}" topic="${pair#*=}"
    verb=create
    exists gcloud pubsub subscriptions describe "$subscription" "${G[@]}" && verb=update
    topic_flag=(--topic="$topic")
    [[ "$verb" == update ]] && topic_flag=()
    run gcloud pubsub subscriptions "$verb" "$subscription" ${topic_flag[@]+"${topic_flag[@]}"} \
      --push-endpoint="${uri}/projects/${PROJECT}/topics/${topic}" --push-auth-service-account="$PUSH_SA" \
      --push-auth-token-audience="$uri" --ack-deadline=600 --message-retention-duration=7d \
      --min-retry-delay=10s --max-retry-delay=600s --dead-letter-topic="$DEAD_LETTER_TOPIC" \
      --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" --expiration-period=never "${G[@]}"
    run gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
      --member="$PUBSUB_AGENT" --role=roles/pubsub.subscriber "${G[@]}"
  done

  if [[ "$SCHEDULE" == 1 ]]; then
    verb=create headers=--headers
    exists gcloud scheduler jobs describe "${NAME}-daily" --location="$SCHEDULER_REGION" "${G[@]}" &&
      verb=update headers=--update-headers
    run gcloud scheduler jobs "$verb" http "${NAME}-daily" --location="$SCHEDULER_REGION" \
      --schedule="$RENEW_WATCHES_SCHEDULE" --time-zone="$SCHEDULER_TIME_ZONE" --uri="$uri" \
      --http-method=POST --message-body='{}' "${headers}=Content-Type=application/json" \
      --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$uri" \
      --attempt-deadline="$((TIMEOUT < 1800 ? TIMEOUT : 1800))s" --max-retry-attempts=3 --min-backoff=60s --max-backoff=600s "${G[@]}"
  fi
done

step "Grants an earlier version made that this one does not (upgrades; each policy is read first)"
# Grants are only ever added above, so an upgrade would leave old ones in place (Terraform
# destroys them instead): each policy below is read (get-iam-policy) and only the members this
# script manages lose a role it manages: function accounts on secrets they no longer mount, the
# build account's old project-wide storage.objectViewer (it now has a conditional one), and on
# each pipeline's topics and pull subscriptions, publishers and subscribers no longer given.
# Other members and roles (yours, for instance) are left alone. A dry run reads nothing.

# stale_members ROLE PATTERN WANTED... < POLICY: the members of ROLE's unconditional bindings
# that match PATTERN (a regular expression, whole member) and are not WANTED, one a line.
stale_members() {
  python3 -c '
import json, re, sys
role, pattern, *wanted = sys.argv[1:]
for binding in json.loads(sys.stdin.read() or "{}").get("bindings", []):
    if binding.get("role") == role and "condition" not in binding:
        for member in binding.get("members", []):
            if re.fullmatch(pattern, member) and member not in wanted:
                print(member)
' "$@"
}
# prune "GROUP" NAME ROLE PATTERN WANTED...: removes ROLE on NAME (gcloud GROUP, e.g. "secrets" or
# "pubsub topics") from each stale member.
prune() {
  local -a group
  read -r -a group <<<"$1"
  local name="$2" role="$3" pattern="$4" policy member condition=()
  shift 4
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "# gcloud ${group[*]} get-iam-policy ${name}: remove ${role} from members matching ${pattern} other than: ${*:-none}"
    return
  fi
  [[ "${group[0]}" != projects ]] || condition=(--condition=None)
  policy="$(gcloud "${group[@]}" get-iam-policy "$name" --format=json "${G[@]}")"
  while IFS= read -r member; do
    [[ -z "$member" ]] || run gcloud "${group[@]}" remove-iam-policy-binding "$name" \
      --member="$member" --role="$role" ${condition[@]+"${condition[@]}"} "${G[@]}"
  done < <(stale_members "$role" "$pattern" "$@" <<<"$policy")
}

FUNCTION_ACCOUNT="serviceAccount:fn-[a-z0-9-]+@${PROJECT}[.]iam[.]gserviceaccount[.]com"
declare -A READERS=() WRITERS=()
for line in "${DEPLOYED[@]}"; do
  eval "$line"
  for secret_id in $SECRET_IDS; do
    READERS[$secret_id]+=" serviceAccount:fn-${NAME}@${PROJECT}.iam.gserviceaccount.com"
  done
  for topic_id in $PUBLISHES; do
    WRITERS[$topic_id]+=" serviceAccount:fn-${NAME}@${PROJECT}.iam.gserviceaccount.com"
  done
done
for secret in ${SECRETS[@]+"${SECRETS[@]}"}; do
  # shellcheck disable=SC2086 # the readers are words
  prune secrets "$secret" roles/secretmanager.secretAccessor "$FUNCTION_ACCOUNT" ${READERS[$secret]-}
done
prune projects "$PROJECT" roles/storage.objectViewer \
  "serviceAccount:functions-build@${PROJECT}[.]iam[.]gserviceaccount[.]com"
# members_of NAME LIST...: the members LIST (NAME=MEMBER entries) gives pipeline NAME.
members_of() {
  local pipeline="$1" grant
  shift
  for grant in "$@"; do [[ "${grant%%=*}" != "$pipeline" ]] || echo "${grant#*=}"; done
}
for pipeline in "${PIPELINES[@]}"; do
  mapfile -t publishers < <(members_of "$pipeline" ${PIPELINE_PUBLISHERS[@]+"${PIPELINE_PUBLISHERS[@]}"})
  mapfile -t consumers < <(members_of "$pipeline" ${PIPELINE_CONSUMERS[@]+"${PIPELINE_CONSUMERS[@]}"})
  requests="$(pipeline_topic "$REQUESTS_TOPIC" "$pipeline")"
  # shellcheck disable=SC2086 # the writers are words
  prune "pubsub topics" "$requests" roles/pubsub.publisher '.+' \
    ${publishers[@]+"${publishers[@]}"} ${WRITERS[$requests]-}
  for topic in "$(pipeline_topic "$RESULTS_TOPIC" "$pipeline")" "$(pipeline_topic "$REAUTH_TOPIC" "$pipeline")"; do
    # shellcheck disable=SC2086 # the writers are words
    prune "pubsub topics" "$topic" roles/pubsub.publisher '.+' ${WRITERS[$topic]-}
    prune "pubsub topics" "$topic" roles/pubsub.subscriber '.+' ${consumers[@]+"${consumers[@]}"}
    prune "pubsub subscriptions" "${topic}-pull" roles/pubsub.subscriber '.+' \
      ${consumers[@]+"${consumers[@]}"}
  done
done

cat >&2 <<EOF
==> Done.
    authorize:        ${FUNCTIONS_HOST}/authorize
    callback (register it on the OAuth client): ${FUNCTIONS_HOST}/oauth2callback
    pipelines:        ${PIPELINES[*]} (send each one's users to authorize?pipeline=NAME)
    requests topics:  ${REQUESTS_TOPIC}    results topics: ${RESULTS_TOPIC} (read from TOPIC-pull)
    re-auth topics:   ${REAUTH_TOPIC} (read from TOPIC-pull)   Gmail push topic: ${GMAIL_PUSH_TOPIC}
    daily upkeep:     ${UPKEEP_TOPIC} (renew_watches publishes one message per user)
    dead letters:     ${DEAD_LETTER_TOPIC} (held in ${DEAD_LETTER_TOPIC}-hold)
EOF
