# Build and deploy on Google's own machinery: a Cloud Build trigger on the repository that runs
# cloudbuild.yaml (make test on Python 3.13, terraform apply, make smoke) as a dedicated deployer
# service account holding only the roles that deploy needs. Off unless build_trigger_repository is
# set. docs/deploying.md ("Deploying on every push") walks the one-time repository connection and
# justifies every role below.

variable "build_trigger_repository" {
  description = "The Cloud Build repository (2nd gen) to deploy from on every push, as projects/PROJECT/locations/REGION/connections/CONNECTION/repositories/REPOSITORY (docs/deploying.md). Empty: no trigger and no deployer account."
  type        = string
  default     = ""

  validation {
    condition     = var.build_trigger_repository == "" || can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.build_trigger_repository))
    error_message = "build_trigger_repository must be empty or projects/PROJECT/locations/REGION/connections/CONNECTION/repositories/REPOSITORY."
  }
}

variable "build_trigger_branch" {
  description = "Regular expression (RE2) of the branches whose pushes deploy."
  type        = string
  default     = "^main$"
}

locals {
  build_trigger_enabled = var.build_trigger_repository != ""
  # A 2nd-gen repository lives in its connection's region, and so must the trigger.
  build_trigger_location = local.build_trigger_enabled ? split("/", var.build_trigger_repository)[3] : ""

  # The deployer's project roles, each needed by `terraform apply` of this directory, by
  # scripts/deploy.sh or by `make smoke` (docs/deploying.md lists why; tests/infra/ holds the
  # list, the guide and this file together). Never roles/owner or roles/editor.
  deployer_roles = toset([
    "roles/artifactregistry.admin",
    "roles/cloudbuild.builds.editor",
    "roles/cloudfunctions.developer",
    "roles/cloudscheduler.admin",
    "roles/datastore.owner",
    "roles/firebaserules.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/logging.configWriter",
    "roles/logging.logWriter",
    "roles/logging.viewer",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.dashboardEditor",
    "roles/monitoring.notificationChannelViewer",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])

  # The only project roles the deployer may grant or revoke: those infra/ grants at project level
  # (service_accounts.tf). Project IAM Admin is held under this condition, so the deployer
  # cannot grant itself, or anyone, any other role (e.g. Owner).
  deployer_grantable_roles = [
    "roles/datastore.user",
    "roles/logging.logWriter",
    "roles/riscconfigs.admin", # the keyless risc-admin account (service_accounts.tf)
    "roles/storage.objectViewer",
  ]
}

resource "google_service_account" "deployer" {
  count = local.build_trigger_enabled ? 1 : 0

  account_id   = "deployer"
  display_name = "Deployer (Cloud Build)"
  description  = "Runs cloudbuild.yaml from the build trigger: tests, terraform apply, smoke check. No keys."

  depends_on = [time_sleep.apis_enabled]
}

resource "google_project_iam_member" "deployer" {
  for_each = local.build_trigger_enabled ? local.deployer_roles : toset([])

  project = var.project_id
  role    = each.value
  member  = google_service_account.deployer[0].member

  dynamic "condition" {
    for_each = each.value == "roles/resourcemanager.projectIamAdmin" ? [local.deployer_grantable_roles] : []
    content {
      title       = "grants-of-this-deployment-only"
      description = "May grant or revoke only the project roles infra/ grants the functions' and build's accounts."
      expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${join(", ", [for role in condition.value : "'${role}'"])}])"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_cloudbuild_trigger" "deploy" {
  count = local.build_trigger_enabled ? 1 : 0

  name        = "deploy"
  location    = local.build_trigger_location
  description = "On every push to ${var.build_trigger_branch}: make test on Python 3.13, terraform apply, make smoke (cloudbuild.yaml)."

  repository_event_config {
    repository = var.build_trigger_repository
    push {
      branch = var.build_trigger_branch
    }
  }

  filename        = "cloudbuild.yaml"
  service_account = google_service_account.deployer[0].id

  substitutions = {
    _DEPLOY_WITH = "terraform"
    _REGION      = var.region
  }

  depends_on = [google_project_iam_member.deployer]
}
