# The Firestore database (native mode) the functions use, the TTL policy that removes the
# markers of used consent links once expired, and deny-all security rules for client SDKs.

resource "google_firestore_database" "main" {
  count = var.create_firestore_database ? 1 : 0

  name                              = "(default)"
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  app_engine_integration_mode       = "DISABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [time_sleep.apis_enabled]
}

resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  database   = "(default)"
  collection = each.key
  field      = each.value

  ttl_config {}
  # A field that only expires documents needs no single-field index.
  index_config {}

  depends_on = [time_sleep.apis_enabled, google_firestore_database.main]
}

resource "google_firebaserules_ruleset" "firestore" {
  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/firestore.rules")
    }
  }

  depends_on = [time_sleep.apis_enabled, google_firestore_database.main]
}

# The release cloud.firestore exists as soon as a database does when the database was made by
# the console or gcloud, and Terraform cannot create what exists: adopt it then (Terraform 1.7
# import with for_each; a no-op once it is in state). var.import_firestore_rules_release decides.
import {
  for_each = local.import_rules_release ? toset(["cloud.firestore"]) : toset([])
  to       = google_firebaserules_release.firestore
  id       = "projects/${var.project_id}/releases/cloud.firestore"
}

resource "google_firebaserules_release" "firestore" {
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore.name}"
}
