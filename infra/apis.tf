# The APIs the deployment and the functions use. Left enabled on destroy: other workloads in the
# project may depend on them.

locals {
  services = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com", # data.google_project and every project IAM grant
    "cloudscheduler.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "gmail.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",    # log-based metrics (monitoring.tf)
    "monitoring.googleapis.com", # alert policies and the dashboard (monitoring.tf)
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Enabling an API returns before every Google front end accepts calls to it: a secret created
# seconds after Secret Manager is enabled can be refused. Wait once, after the APIs are enabled
# (again only when the list changes); everything that calls one of them depends on this.
resource "time_sleep" "apis_enabled" {
  create_duration = "60s"

  triggers = {
    services = join(",", sort(local.services))
  }

  depends_on = [google_project_service.enabled]
}
