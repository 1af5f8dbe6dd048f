#!/usr/bin/env bash
# Deploy with gcloud alone (no Terraform): the same APIs, service accounts, secrets, Firestore
# database, topics, functions, push subscriptions and scheduler job as infra/, with the same least
# privilege. Safe to run again: it creates what is missing and redeploys the functions.
#
#   scripts/deploy.sh --project PROJECT --region REGION [--runtime RUNTIME]
#                     [--sizing FUNCTION.FIELD=VALUE ...] [--dry-run]
#
# Only the entry points main.py declares are deployed, as infra/functions.json describes them
# (the definition Terraform follows too), on the Cloud Functions runtime RUNTIME (default: that
# of var.runtime in infra/variables.tf). --sizing overrides one field of a function's shipped
# sizing (memory, cpu, min_instances, max_instances, concurrency, timeout_seconds), e.g.
# --sizing list_messages.memory=1Gi; repeat it for more. --dry-run prints the gcloud commands
# instead of running them (it assumes nothing exists yet). Settings come from the environment,
# with the defaults of infra/variables.tf:
#
#   ALLOWED_RETURN_TO        comma-separated URL prefixes return_to may start with (default: none)
#   INTERNAL_INVOKERS        comma-separated IAM members that may call disconnect and watch
#   INTERNAL_HTTP_INGRESS    internal-only (default), internal-and-gclb or all, for those two
#   OAUTH_SCOPES             space-separated scopes (default: the code's)
#   FIRESTORE_LOCATION       location of a new Firestore database (default: the region)
#   OAUTH_CLIENT_SECRET_ID   oauth-client          TOKEN_KEYS_SECRET_ID   token-keys
#   REQUESTS_TOPIC           mailbox-requests      RESULTS_TOPIC          mailbox-results
#   REAUTH_TOPIC             reauth-required       GMAIL_PUSH_TOPIC       gmail-push
#   DEAD_LETTER_TOPIC        mailbox-dead-letter   MAX_DELIVERY_ATTEMPTS  5
#   RENEW_WATCHES_SCHEDULE   "17 3 * * *"          SCHEDULER_TIME_ZONE    Etc/UTC
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DRY_RUN=0
RUNTIME=python313 # the default of var.runtime in infra/variables.tf
PROJECT="${PROJECT:-}"
REGION="${REGION:-}"

SIZING=()

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --project=*) PROJECT="${1#*=}"; shift ;;
    --region) REGION="$2"; shift 2 ;;
    --region=*) REGION="${1#*=}"; shift ;;
    --sizing) SIZING+=("$2"); shift 2 ;;
    --sizing=*) SIZING+=("${1#*=}"); shift ;;
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
if [[ ! "$RUNTIME" =~ ^python3[0-9]+$ ]]; then
  echo "deploy.sh: --runtime must be a Cloud Functions Python runtime ID such as python313, not ${RUNTIME}." >&2
  exit 2
fi

OAUTH_CLIENT_SECRET_ID="${OAUTH_CLIENT_SECRET_ID:-oauth-client}"
TOKEN_KEYS_SECRET_ID="${TOKEN_KEYS_SECRET_ID:-token-keys}"
REQUESTS_TOPIC="${REQUESTS_TOPIC:-mailbox-requests}"
RESULTS_TOPIC="${RESULTS_TOPIC:-mailbox-results}"
REAUTH_TOPIC="${REAUTH_TOPIC:-reauth-required}"
GMAIL_PUSH_TOPIC="${GMAIL_PUSH_TOPIC:-gmail-push}"
DEAD_LETTER_TOPIC="${DEAD_LETTER_TOPIC:-mailbox-dead-letter}"
MAX_DELIVERY_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-5}"
RENEW_WATCHES_SCHEDULE="${RENEW_WATCHES_SCHEDULE:-17 3 * * *}"
SCHEDULER_TIME_ZONE="${SCHEDULER_TIME_ZONE:-Etc/UTC}"
FIRESTORE_LOCATION="${FIRESTORE_LOCATION:-$REGION}"
INTERNAL_HTTP_INGRESS="${INTERNAL_HTTP_INGRESS:-internal-only}"
ALLOWED_RETURN_TO="${ALLOWED_RETURN_TO:-}"
INTERNAL_INVOKERS="${INTERNAL_INVOKERS:-}"
OAUTH_SCOPES="${OAUTH_SCOPES:-}"

CREDENTIALS_COLLECTION=gmail_credentials
AUTH_SESSIONS_COLLECTION=oauth_sessions
EVENTS_COLLECTION=processed_events
FUNCTIONS_HOST="https://${REGION}-${PROJECT}.cloudfunctions.net"
BUILD_SA="functions-build@${PROJECT}.iam.gserviceaccount.com"
PUSH_SA="pubsub-push-invoker@${PROJECT}.iam.gserviceaccount.com"
SCHEDULER_SA="scheduler-invoker@${PROJECT}.iam.gserviceaccount.com"
REPOSITORY="projects/${PROJECT}/locations/${REGION}/repositories/functions"

# --- How each entry point is deployed: the one definition, infra/functions.json. ---
# devstack/deployment.py reads it (standard library only) with this deployment's settings and
# prints one line of shell assignments per entry point of main.py: KEY NAME TRIGGER
# SIGNATURE_TYPE TOPIC ACCESS SCHEDULE FIRESTORE PUBLISHES SECRET_IDS SECRET_MOUNTS ENV_VARS
# MEMORY CPU MIN_INSTANCES MAX_INSTANCES CONCURRENCY TIMEOUT. Terraform reads the same file.
definition() {
  local args=(--project="$PROJECT" --region="$REGION"
    --topic=requests="$REQUESTS_TOPIC" --topic=results="$RESULTS_TOPIC"
    --topic=reauth="$REAUTH_TOPIC" --topic=gmail_push="$GMAIL_PUSH_TOPIC"
    --topic=dead_letter="$DEAD_LETTER_TOPIC"
    --secret=oauth_client="$OAUTH_CLIENT_SECRET_ID" --secret=token_keys="$TOKEN_KEYS_SECRET_ID"
    --collection=credentials="$CREDENTIALS_COLLECTION" --collection=events="$EVENTS_COLLECTION"
    --collection=auth_sessions="$AUTH_SESSIONS_COLLECTION"
    --scopes="$OAUTH_SCOPES" --allowed-return-to="$ALLOWED_RETURN_TO")
  local item
  for item in ${SIZING[@]+"${SIZING[@]}"}; do args+=(--sizing="$item"); done
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

# Whether a resource exists (its describe command succeeds). A dry run assumes it does not.
exists() {
  [[ "$DRY_RUN" == 0 ]] && "$@" >/dev/null 2>&1
}

step() { echo "==> $*" >&2; }

# Reads that a dry run cannot make, answered with a placeholder.
read_value() {
  local placeholder="$1"
  shift
  if [[ "$DRY_RUN" == 1 ]]; then echo "$placeholder"; else "$@"; fi
}

G=(--project="$PROJECT" --quiet)

DEFINITION="$(definition)" || exit 2  # fails early on unknown entry points or sizing
DEPLOYED=()
while IFS= read -r line; do DEPLOYED+=("$line"); done <<<"$DEFINITION"
if [[ ${#DEPLOYED[@]} -eq 0 || -z "${DEPLOYED[0]}" ]]; then
  echo "deploy.sh: main.py declares no entry points." >&2
  exit 1
fi

step "APIs"
run gcloud services enable artifactregistry.googleapis.com cloudbuild.googleapis.com \
  cloudfunctions.googleapis.com cloudscheduler.googleapis.com firebaserules.googleapis.com \
  firestore.googleapis.com gmail.googleapis.com iam.googleapis.com pubsub.googleapis.com \
  run.googleapis.com secretmanager.googleapis.com storage.googleapis.com "${G[@]}"

PROJECT_NUMBER="$(read_value PROJECT_NUMBER gcloud projects describe "$PROJECT" --format='value(projectNumber)')"
PUBSUB_AGENT="serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"

step "Secrets (values are added by you, never by this script)"
for secret in "$OAUTH_CLIENT_SECRET_ID" "$TOKEN_KEYS_SECRET_ID"; do
  exists gcloud secrets describe "$secret" "${G[@]}" ||
    run gcloud secrets create "$secret" --replication-policy=automatic "${G[@]}"
  if [[ "$DRY_RUN" == 0 ]] && [[ -z "$(gcloud secrets versions list "$secret" --filter=state:ENABLED \
    --limit=1 --format='value(name)' "${G[@]}")" ]]; then
    echo "deploy.sh: the secret $secret has no version yet. Add one, then run this again:" >&2
    echo "  gcloud secrets versions add $secret --data-file=FILE --project=$PROJECT" >&2
    echo "(docs/deploying.md says what goes in each.)" >&2
    exit 1
  fi
done

step "Firestore: database, TTL on expires_at of ${AUTH_SESSIONS_COLLECTION} and ${EVENTS_COLLECTION}, deny-all client rules"
exists gcloud firestore databases describe --database='(default)' "${G[@]}" ||
  run gcloud firestore databases create --database='(default)' --location="$FIRESTORE_LOCATION" \
    --type=firestore-native --delete-protection --enable-pitr "${G[@]}"
for collection in "$AUTH_SESSIONS_COLLECTION" "$EVENTS_COLLECTION" leases; do
  run gcloud firestore fields ttls update expires_at --collection-group="$collection" \
    --enable-ttl --async "${G[@]}"
  run gcloud firestore indexes fields update expires_at \
    --collection-group="$collection" --disable-indexes --async "${G[@]}"
done

# Security rules have no gcloud command: the Firebase Rules REST API, as the gcloud account.
release_rules() {
  local api="https://firebaserules.googleapis.com/v1/projects/${PROJECT}"
  local token content ruleset
  token="$(gcloud auth print-access-token)"
  content="$(sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' "$ROOT/infra/firestore.rules" | awk '{printf "%s\\n", $0}')"
  local auth=(-H "Authorization: Bearer ${token}" -H "x-goog-user-project: ${PROJECT}"
    -H "Content-Type: application/json")
  ruleset="$(curl -fsS "${auth[@]}" -X POST "${api}/rulesets" \
    -d "{\"source\": {\"files\": [{\"name\": \"firestore.rules\", \"content\": \"${content}\"}]}}" |
    sed -n 's/.*"name": *"\(projects\/[^"]*\/rulesets\/[^"]*\)".*/\1/p' | head -n 1)"
  [[ -n "$ruleset" ]] || { echo "deploy.sh: creating the rules ruleset failed." >&2; exit 1; }
  local release="projects/${PROJECT}/releases/cloud.firestore"
  curl -fsS "${auth[@]}" -X PATCH "${api}/releases/cloud.firestore" \
    -d "{\"release\": {\"name\": \"${release}\", \"rulesetName\": \"${ruleset}\"}}" >/dev/null ||
    curl -fsS "${auth[@]}" -X POST "${api}/releases" \
      -d "{\"name\": \"${release}\", \"rulesetName\": \"${ruleset}\"}" >/dev/null
}
if [[ "$DRY_RUN" == 1 ]]; then
  echo "# release infra/firestore.rules as cloud.firestore (Firebase Rules REST API)"
else
  release_rules
fi

step "Topics"
for topic in "$REQUESTS_TOPIC" "$RESULTS_TOPIC" "$REAUTH_TOPIC" "$GMAIL_PUSH_TOPIC" "$DEAD_LETTER_TOPIC"; do
  exists gcloud pubsub topics describe "$topic" "${G[@]}" ||
    run gcloud pubsub topics create "$topic" "${G[@]}"
done
run gcloud pubsub topics add-iam-policy-binding "$GMAIL_PUSH_TOPIC" \
  --member=serviceAccount:gmail-api-push@system.gserviceaccount.com --role=roles/pubsub.publisher "${G[@]}"
run gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" \
  --member="$PUBSUB_AGENT" --role=roles/pubsub.publisher "${G[@]}"
exists gcloud pubsub subscriptions describe "${DEAD_LETTER_TOPIC}-hold" "${G[@]}" ||
  run gcloud pubsub subscriptions create "${DEAD_LETTER_TOPIC}-hold" --topic="$DEAD_LETTER_TOPIC" \
    --ack-deadline=60 --message-retention-duration=7d --expiration-period=never "${G[@]}"

step "Service accounts (no keys) and their roles"
service_account() {  # ACCOUNT_ID DISPLAY_NAME
  exists gcloud iam service-accounts describe "$1@${PROJECT}.iam.gserviceaccount.com" "${G[@]}" ||
    run gcloud iam service-accounts create "$1" --display-name="$2" "${G[@]}"
}
service_account functions-build "Cloud Functions build"
service_account pubsub-push-invoker "Pub/Sub push invoker"
service_account scheduler-invoker "Cloud Scheduler invoker"
run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${BUILD_SA}" \
  --role=roles/logging.logWriter --condition=None --quiet
run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:${BUILD_SA}" \
  --role=roles/storage.objectViewer --condition=None --quiet
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

step "Functions (from ${ROOT}, as .gcloudignore leaves it)"
for line in "${DEPLOYED[@]}"; do
  eval "$line"
  case "$ACCESS" in
    public) access=--allow-unauthenticated ingress=all ;;
    internal) access=--no-allow-unauthenticated ingress="$INTERNAL_HTTP_INGRESS" ;;
    *) access=--no-allow-unauthenticated ingress=internal-only ;;
  esac
  secrets=(--clear-secrets)
  [[ -n "$SECRET_MOUNTS" ]] && secrets=(--set-secrets="$SECRET_MOUNTS")
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
    continue
  elif [[ "$TRIGGER" == pubsub ]]; then
    invokers=("serviceAccount:${PUSH_SA}")
  elif [[ "$SCHEDULE" == 1 ]]; then
    invokers=("serviceAccount:${SCHEDULER_SA}")
  else
    IFS=',' read -r -a invokers <<<"$INTERNAL_INVOKERS"
  fi
  for member in ${invokers[@]+"${invokers[@]}"}; do
    [[ -n "$member" ]] || continue
    run gcloud functions add-invoker-policy-binding "$NAME" --region="$REGION" \
      --member="$member" "${G[@]}"
  done

  if [[ "$TRIGGER" == pubsub ]]; then
    # The trigger: a push subscription with an explicit retry policy and a dead-letter policy.
    subscription="${NAME}-push"
    verb=create
    exists gcloud pubsub subscriptions describe "$subscription" "${G[@]}" && verb=update
    topic_flag=(--topic="$TOPIC")
    [[ "$verb" == update ]] && topic_flag=()
    run gcloud pubsub subscriptions "$verb" "$subscription" ${topic_flag[@]+"${topic_flag[@]}"} \
      --push-endpoint="${uri}/projects/${PROJECT}/topics/${TOPIC}" --push-auth-service-account="$PUSH_SA" \
      --push-auth-token-audience="$uri" --ack-deadline=600 --message-retention-duration=7d \
      --min-retry-delay=10s --max-retry-delay=600s --dead-letter-topic="$DEAD_LETTER_TOPIC" \
      --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" --expiration-period=never "${G[@]}"
    run gcloud pubsub subscriptions add-iam-policy-binding "$subscription" \
      --member="$PUBSUB_AGENT" --role=roles/pubsub.subscriber "${G[@]}"
  fi

  if [[ "$SCHEDULE" == 1 ]]; then
    verb=create headers=--headers
    exists gcloud scheduler jobs describe "${NAME}-daily" --location="$REGION" "${G[@]}" &&
      verb=update headers=--update-headers
    run gcloud scheduler jobs "$verb" http "${NAME}-daily" --location="$REGION" \
      --schedule="$RENEW_WATCHES_SCHEDULE" --time-zone="$SCHEDULER_TIME_ZONE" --uri="$uri" \
      --http-method=POST --message-body='{}' "${headers}=Content-Type=application/json" \
      --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$uri" \
      --attempt-deadline=1800s --max-retry-attempts=3 --min-backoff=60s --max-backoff=600s "${G[@]}"
  fi
done

cat >&2 <<EOF
==> Done.
    authorize:        ${FUNCTIONS_HOST}/authorize
    callback (register it on the OAuth client): ${FUNCTIONS_HOST}/oauth2callback
    requests topic:   ${REQUESTS_TOPIC}    results topic: ${RESULTS_TOPIC}
    re-auth topic:    ${REAUTH_TOPIC}      Gmail push topic: ${GMAIL_PUSH_TOPIC}
    dead letters:     ${DEAD_LETTER_TOPIC} (held in ${DEAD_LETTER_TOPIC}-hold)
EOF
