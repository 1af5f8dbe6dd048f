# One service account per function, none with a key. Each gets only what its function uses:
# Firestore (the app's database only), read access to its own secrets (secrets.tf) and publish
# rights on the topics it writes (pubsub.tf). Invokers are separate identities (functions.tf).

resource "google_service_account" "function" {
  for_each = local.deployed_functions

  account_id   = "fn-${each.value.name}"
  display_name = "Cloud Function ${each.value.name}"
  description  = "Runs the ${each.key} entry point. No keys."

  depends_on = [time_sleep.apis_enabled]
}

# Firestore has no per-collection IAM; the condition confines the role to the app's database.
resource "google_project_iam_member" "function_firestore" {
  for_each = { for key, fn in local.deployed_functions : key => fn if fn.firestore }

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function[each.key].member

  condition {
    title       = "app-database-only"
    description = "Only the (default) Firestore database the functions use."
    expression  = "resource.name == \"projects/${var.project_id}/databases/(default)\""
  }

  depends_on = [time_sleep.apis_enabled] # project IAM goes through Cloud Resource Manager
}

# Cloud Build builds the function images as this account instead of a default one.
resource "google_service_account" "build" {
  account_id   = "functions-build"
  display_name = "Cloud Functions build"
  description  = "Builds the function images from the uploaded source. No keys."

  depends_on = [time_sleep.apis_enabled]
}

resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member

  depends_on = [time_sleep.apis_enabled]
}

# The build reads the function source, and nothing else in Cloud Storage: Cloud Functions (2nd gen)
# copies each deployment's source into gcf-v2-sources-PROJECT_NUMBER-REGION, a bucket Google makes
# on the first deployment, and the build reads it there. A bucket that does not exist yet cannot
# carry a bucket-level grant, so the grant is project-level under an IAM condition naming the
# buckets: that one, and ours the source is uploaded to (infra/source.tf). Images go to the one
# repository (source.tf, roles/artifactregistry.writer there), build logs through logWriter above.
locals {
  build_source_buckets = [
    "gcf-v2-sources-${data.google_project.this.number}-${var.region}",
    google_storage_bucket.source.name,
  ]
}

resource "google_project_iam_member" "build_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "function-source-buckets-only"
    description = "Only the buckets holding the functions' source; no other bucket of the project."
    expression = join(" || ", [
      for bucket in local.build_source_buckets :
      "resource.name == \"projects/_/buckets/${bucket}\" || resource.name.startsWith(\"projects/_/buckets/${bucket}/\")"
    ])
  }

  depends_on = [time_sleep.apis_enabled]
}

# Pub/Sub pushes event-function messages as this identity (OIDC token).
resource "google_service_account" "pubsub_push" {
  account_id   = "pubsub-push-invoker"
  display_name = "Pub/Sub push invoker"
  description  = "Identity of the push subscriptions that deliver messages to the event functions. No keys."

  depends_on = [time_sleep.apis_enabled]
}

# Pub/Sub's service agent mints the push OIDC tokens (needed on projects created before
# April 2021), on this one account only.
resource "google_service_account_iam_member" "pubsub_push_token_creator" {
  service_account_id = google_service_account.pubsub_push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent

  # The service agent exists once the Pub/Sub API is enabled.
  depends_on = [time_sleep.apis_enabled]
}

# Cloud Scheduler calls the scheduled functions as this identity (OIDC token).
resource "google_service_account" "scheduler" {
  account_id   = "scheduler-invoker"
  display_name = "Cloud Scheduler invoker"
  description  = "Identity of the scheduler jobs that run the scheduled functions. No keys."

  depends_on = [time_sleep.apis_enabled]
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Cross-Account Protection: the account `python -m functions.cli risc register|status|verify`
# acts as (Google's page: a service account with RISC Configuration Admin, which is all it
# holds). No keys: the operators in var.risc_operators sign its self-signed JWT through the IAM
# Credentials API (roles/iam.serviceAccountTokenCreator on this account only). The RISC API
# itself is enabled by hand, once its terms are accepted (docs/deploying.md).
resource "google_service_account" "risc_admin" {
  account_id   = "risc-admin"
  display_name = "Cross-Account Protection stream admin"
  description  = "Registers the security_events receiver with Google's RISC API. No keys."

  depends_on = [time_sleep.apis_enabled]
}

resource "google_project_iam_member" "risc_admin" {
  project = var.project_id
  role    = "roles/riscconfigs.admin"
  member  = google_service_account.risc_admin.member

  depends_on = [time_sleep.apis_enabled] # project IAM goes through Cloud Resource Manager
}

resource "google_service_account_iam_member" "risc_operator" {
  for_each = toset(var.risc_operators)

  service_account_id = google_service_account.risc_admin.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}
