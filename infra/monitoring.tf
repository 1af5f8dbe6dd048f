# What an operator sees: log-based metrics from the lines the functions write, the alerts, and the
# dashboard. docs/operating.md explains every panel and what each alert asks you to do.

variable "notification_channels" {
  description = "Cloud Monitoring notification channel IDs (projects/P/notificationChannels/N) every alert notifies. Empty: the alerts open incidents in the console only."
  type        = list(string)
  default     = []
}

variable "runbook_url" {
  description = "Where docs/operating.md is read, linked from every alert (e.g. https://github.com/ORG/REPO/blob/main/docs/operating.md). Empty: the alerts name the file in the repository."
  type        = string
  default     = ""
}

variable "function_error_ratio" {
  description = "Share of a function's requests answered 5xx, over 5 minutes, above which the function-errors alert fires."
  type        = number
  default     = 0.05
}

variable "reauth_burst_threshold" {
  description = "Re-auth transitions in an hour above which the re-auth burst alert fires (many users losing their grant at once: a revoked client, a changed scope, a security incident)."
  type        = number
  default     = 10
}

locals {
  # The one definition of the log-based metrics (infra/log_metrics.json): filters and label
  # extractors verbatim, held against the functions' real log lines by
  # tests/integration/test_metrics_contract.py.
  log_metrics     = jsondecode(file("${path.module}/log_metrics.json")).metrics
  log_metric_type = { for key, _ in local.log_metrics : key => "logging.googleapis.com/user/gmail_auth/${key}" }

  # The Cloud Run services of the functions: the built-in metrics are filtered to these.
  service_names       = [for key, fn in local.deployed_functions : fn.name]
  service_name_filter = "resource.label.service_name = one_of(${join(", ", [for name in local.service_names : "\"${name}\""])})"

  runbook = var.runbook_url != "" ? var.runbook_url : "docs/operating.md"
}

resource "google_logging_metric" "metric" {
  for_each = local.log_metrics

  name        = "gmail_auth/${each.key}"
  description = each.value.description
  filter      = each.value.filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "gmail_auth ${replace(each.key, "_", " ")}"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value.description
      }
    }
  }

  label_extractors = { for key, label in each.value.labels : key => label.extractor }

  depends_on = [time_sleep.apis_enabled]
}

# --- alerts: each says what to do, in docs/operating.md ---------------------------------------------

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Dead letters waiting"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Messages in ${google_pubsub_subscription.dead_letter.name}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.label.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Dead letters are waiting in ${google_pubsub_subscription.dead_letter.name}"
    content   = "A mailbox request or a Gmail notification failed ${var.max_delivery_attempts} deliveries and waits in `${google_pubsub_subscription.dead_letter.name}` (kept seven days). Read why, fix the cause, then replay: ${local.runbook}#dead-letters-waiting"
  }

  alert_strategy {
    auto_close = "604800s"
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_monitoring_alert_policy" "function_errors" {
  display_name          = "Function errors"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Share of requests answered 5xx above ${var.function_error_ratio}"
    condition_threshold {
      filter             = "resource.type = \"cloud_run_revision\" AND ${local.service_name_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\""
      denominator_filter = "resource.type = \"cloud_run_revision\" AND ${local.service_name_filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.function_error_ratio
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "A function is failing"
    content   = "More than ${var.function_error_ratio * 100}% of a function's requests were answered 5xx for five minutes. Event functions answer 5xx so that Pub/Sub redelivers; past the retries the messages become dead letters. What to look at: ${local.runbook}#function-errors"
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_monitoring_alert_policy" "renew_watches" {
  display_name          = "Watch renewal failing"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "Users whose watch was not renewed"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_type["watch_renewal_failures"]}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.error"]
      }
      trigger {
        count = 1
      }
    }
  }

  conditions {
    display_name = "renew-watches answered 5xx"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND resource.label.service_name = \"${local.functions["renew_watches"].name}\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Gmail watches were not renewed"
    content   = "The daily renew_watches run failed for some users, or failed outright. A watch not renewed lapses seven days after its last renewal and push notifications stop. What to do: ${local.runbook}#watch-renewal-failing"
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.metric]
}

resource "google_monitoring_alert_policy" "reauth_burst" {
  display_name          = "Burst of re-auth transitions"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "More than ${var.reauth_burst_threshold} users need consent again within an hour"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_type["reauth_transitions"]}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.reauth_burst_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Many users lost their Gmail grant at once"
    content   = "More than ${var.reauth_burst_threshold} users went from active to needing consent again within an hour. One user revoking access is normal; many at once points at the OAuth client, the scopes or a security incident. What to check: ${local.runbook}#burst-of-re-auth-transitions"
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_logging_metric.metric]
}

resource "google_monitoring_alert_policy" "account_disabled" {
  display_name          = "Security event: account disabled"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels

  conditions {
    display_name = "A security event disabled an account"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.log_metric_type["security_events"]}\" AND metric.label.event_type = \"account-disabled\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "Google reported a disabled account"
    content   = "Google's Cross-Account Protection reported that a connected user's Google account was disabled (possibly hijacked). What to do: ${local.runbook}#security-event-account-disabled"
  }

  alert_strategy {
    auto_close = "604800s"
  }

  depends_on = [google_logging_metric.metric]
}

# --- the dashboard (infra/dashboard.json; docs/operating.md#the-dashboard) ---------------------------

resource "google_monitoring_dashboard" "operations" {
  dashboard_json = file("${path.module}/dashboard.json")

  depends_on = [google_logging_metric.metric]
}
