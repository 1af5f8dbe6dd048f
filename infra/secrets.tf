# The secrets, without values: Terraform state never holds the OAuth client secret or the token
# keys. Add versions with `gcloud secrets versions add` (docs/deploying.md).

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  secret_id = each.value.id

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

# Each function's account may read the secrets its function mounts, and no others. Cloud Run reads
# a mounted secret as the function's account, so this grant is what lets the mount work.
resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = {
    for pair in flatten([
      for key, fn in local.deployed_functions : [
        for secret in fn.secrets : { function = key, secret = secret }
      ]
    ]) : "${pair.function}/${pair.secret}" => pair
  }

  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}
