# The secrets, without values: Terraform state never holds the OAuth client secret or the token
# keys. Add versions with `gcloud secrets versions add` (docs/deploying.md).

resource "google_secret_manager_secret" "secret" {
  for_each = local.secrets

  secret_id = each.value.id

  # `terraform destroy` keeps Firestore, and with it every sealed refresh token: losing the token
  # keys would make them all unreadable (and the OAuth client is the one registered in the
  # console). To really remove them, apply with protect_secrets = false first (docs/deploying.md).
  deletion_protection = var.protect_secrets

  replication {
    auto {}
  }

  depends_on = [time_sleep.apis_enabled]
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
