output "authorize_url" {
  description = "Where people start consent: link to it (optionally with ?login_hint=&return_to=)."
  value       = local.authorize_url
}

output "callback_url" {
  description = "The redirect URI: register it, exactly, on the OAuth client in the console."
  value       = local.callback_url
}

output "function_urls" {
  description = "Every deployed function's URL, by entry point."
  value       = { for key, fn in google_cloudfunctions2_function.function : key => fn.url }
}

output "pipelines" {
  description = "Each pipeline's topics and subscriptions: publish mailbox requests to requests_topic; read results and re-auth events from the pull subscriptions. Send its users to authorize_url."
  value = {
    for p in local.pipeline_names : p => {
      requests_topic       = google_pubsub_topic.topic["requests/${p}"].name
      results_topic        = google_pubsub_topic.topic["results/${p}"].name
      reauth_topic         = google_pubsub_topic.topic["reauth/${p}"].name
      results_subscription = google_pubsub_subscription.pipeline["results/${p}"].name
      reauth_subscription  = google_pubsub_subscription.pipeline["reauth/${p}"].name
      authorize_url        = "${local.authorize_url}?pipeline=${p}"
    }
  }
}

output "gmail_push_topic" {
  description = "The topic users.watch names; only Gmail may publish to it."
  value       = google_pubsub_topic.topic["gmail_push"].id
}

output "dead_letter_topic" {
  description = "Messages an event function failed max_delivery_attempts times."
  value       = google_pubsub_topic.topic["dead_letter"].name
}

output "dead_letter_subscription" {
  description = "Pull subscription holding the dead letters for seven days."
  value       = google_pubsub_subscription.dead_letter.name
}

output "function_service_accounts" {
  description = "Each function's runtime service account, by entry point."
  value       = { for key, sa in google_service_account.function : key => sa.email }
}

output "secrets" {
  description = "The secrets to add versions to (gcloud secrets versions add NAME --data-file=...)."
  value       = { for key, secret in google_secret_manager_secret.secret : key => secret.secret_id }
}

output "public_access_commands" {
  description = "With public_access = \"invoker_iam_disabled\": run these once after the first apply to open authorize, oauth2callback and security_events to anyone (empty otherwise)."
  value       = local.public_access_commands
}

output "risc_service_account" {
  description = "Register the security_events receiver as this account: python -m functions.cli risc register --impersonate EMAIL --receiver URL (docs/deploying.md)."
  value       = google_service_account.risc_admin.email
}
