# Cloud Scheduler runs the scheduled functions (renew_watches): Gmail watches lapse after seven
# days and Google recommends renewing them daily. An HTTP function is called with an OIDC token;
# a Pub/Sub one gets a message on its topic.

resource "google_cloud_scheduler_job" "scheduled" {
  for_each = { for key, fn in local.deployed_functions : key => fn if fn.schedule }

  name             = "${each.value.name}-daily"
  description      = "Runs ${each.key} every day."
  region           = local.scheduler_region
  schedule         = var.renew_watches_schedule
  time_zone        = var.scheduler_time_zone
  attempt_deadline = "${min(each.value.sizing.timeout_seconds, 1800)}s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
  }

  dynamic "http_target" {
    for_each = each.value.trigger == "http" ? [google_cloudfunctions2_function.function[each.key].service_config[0].uri] : []
    content {
      http_method = "POST"
      uri         = http_target.value
      headers     = { "Content-Type" = "application/json" }
      body        = base64encode("{}")

      oidc_token {
        service_account_email = google_service_account.scheduler.email
        audience              = http_target.value
      }
    }
  }

  dynamic "pubsub_target" {
    for_each = each.value.trigger == "pubsub" ? [google_pubsub_topic.topic[each.value.topic].id] : []
    content {
      topic_name = pubsub_target.value
      data       = base64encode("{}")
    }
  }

  depends_on = [time_sleep.apis_enabled, google_cloud_run_service_iam_member.invoker]
}
