# The functions' source: the files .gcloudignore allows (main.py, requirements.txt, functions/),
# zipped as `gcloud functions deploy` would upload them, stored under the zip's hash, and the
# Artifact Registry repository the builds push to. The zip is the same from any checkout: the
# archive provider zeroes timestamps and output_file_mode fixes every file's mode, so applying
# from another machine (or from Cloud Build) does not rebuild the seven functions.

data "archive_file" "source" {
  type             = "zip"
  source_dir       = local.repo_root
  output_path      = "${path.module}/.build/function-source.zip"
  excludes         = local.source_excludes
  output_file_mode = "0644"

  lifecycle {
    precondition {
      condition     = local.gcloudignore_is_allowlist
      error_message = ".gcloudignore must be an allowlist Terraform can zip: `*`, then `!NAME`, `!NAME/` or `!NAME/**` lines (top-level names of letters, digits, `_` and `.`), then patterns to leave out inside them."
    }
    precondition {
      condition     = length(setsubtract(keys(local.entry_points), keys(local.functions))) == 0
      error_message = "main.py declares entry points that infra/locals.tf does not deploy: ${join(", ", setsubtract(keys(local.entry_points), keys(local.functions)))}. Add them to local.functions."
    }
    precondition {
      condition = alltrue([
        for key, kind in local.entry_points :
        !contains(keys(local.functions), key) || local.functions[key].trigger == (kind == "http" ? "http" : "pubsub")
      ])
      error_message = "An entry point's trigger in infra/locals.tf does not match its decorator in main.py (http needs trigger = \"http\", cloud_event needs trigger = \"pubsub\")."
    }
  }
}

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62:Holds only the zipped repository source (no secrets, no user data); Cloud Audit Logs already record who reads or writes it, and a log bucket would need a log bucket of its own.
  name     = "${var.project_id}-function-source"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  versioning {
    enabled = true
  }

  # Each deployment uploads a new archive; superseded ones go after a month.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_storage_bucket_object" "source" {
  name   = "function-source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:Encrypted at rest with Google-managed keys. The images hold the repository's code and its pinned public dependencies, nothing secret; CMEK needs a key ring and service-agent grants this configuration does not presume.
  location      = var.region
  repository_id = "functions"
  format        = "DOCKER"
  description   = "Images of the Cloud Functions, built by Cloud Build."

  # Keep the images of the last few deployments only.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}
