# One Cloud Function (2nd gen) per entry point in main.py, all from the same source, each with
# its own service account and the environment of the contract (local.function_env).

resource "google_cloudfunctions2_function" "function" {
  # checkov:skip=CKV_GCP_124:authorize and oauth2callback are opened by people's browsers and security_events is posted to by Google's Cross-Account Protection, so they take traffic from anywhere (ALLOW_ALL); every other function is ALLOW_INTERNAL_ONLY or var.internal_http_ingress (tests/infra/ holds local.functions to that).
  for_each = local.deployed_functions

  name        = each.value.name
  location    = var.region
  description = each.value.description

  build_config {
    runtime           = var.runtime
    entry_point       = each.key
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = local.function_env[each.key]
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    available_memory                 = each.value.sizing.memory
    available_cpu                    = each.value.sizing.cpu
    max_instance_request_concurrency = each.value.sizing.concurrency
    timeout_seconds                  = each.value.sizing.timeout_seconds
    min_instance_count               = each.value.sizing.min_instances
    max_instance_count               = each.value.sizing.max_instances

    dynamic "secret_volumes" {
      for_each = local.secret_volumes[each.key]
      content {
        mount_path = secret_volumes.value.mount_path
        project_id = data.google_project.this.number # the API answers with the number
        secret     = secret_volumes.value.secret
        versions {
          version = secret_volumes.value.version
          path    = secret_volumes.value.file
        }
      }
    }
  }

  # A function must be able to read its configuration when its first instance starts, and its
  # build must be able to read the source and push the image: only once the grants have spread.
  depends_on = [time_sleep.iam_propagated]
}

# An IAM grant takes effect across Google within seconds to a few minutes (usually under two):
# a build started right after its account's grants is refused, and so is the first start of a
# function that cannot yet read its secrets. Wait once after the grants the functions need, and
# again only when one of them changes.
resource "time_sleep" "iam_propagated" {
  create_duration = "120s"

  triggers = {
    grants = sha256(jsonencode(concat(
      [for grant in google_secret_manager_secret_iam_member.accessor : grant.id],
      [for grant in google_project_iam_member.function_firestore : grant.id],
      [for grant in google_pubsub_topic_iam_member.publisher : grant.id],
      [google_project_iam_member.build_logs.id, google_project_iam_member.build_source_reader.id],
      [google_artifact_registry_repository_iam_member.build_writer.id],
    )))
  }
}

# The browser-facing functions: anyone may invoke them (2nd gen functions are Cloud Run services,
# so invocation is roles/run.invoker on the service). Where an organisation policy restricts
# IAM members to your domain (iam.allowedPolicyMemberDomains), allUsers cannot be granted: with
# public_access = "invoker_iam_disabled" nothing is granted here and Cloud Run's invoker IAM
# check is disabled on the two services instead (output public_access_commands; the google
# provider 7.x has no such argument on google_cloudfunctions2_function).
resource "google_cloud_run_service_iam_member" "public" {
  # checkov:skip=CKV_GCP_102:authorize and oauth2callback are the OAuth consent start and redirect URI; people's browsers call them without Google credentials. security_events receives Google's security event tokens, authenticated by their signature, not by IAM. Only these three are public.
  for_each = var.public_access == "allUsers" ? local.public_functions : {}

  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Every other function is invoked through IAM only: event functions by the push subscriptions'
# identity, scheduled ones by the scheduler's, the other HTTP ones by var.internal_invokers.
# (Keyed by static labels: service account e-mails are not known until apply.)
locals {
  function_invokers = {
    for key, fn in local.deployed_functions : key => (
      fn.public ? {} :
      fn.trigger == "pubsub" ? { pubsub-push = google_service_account.pubsub_push.member } :
      fn.schedule ? { scheduler = google_service_account.scheduler.member } :
      { for member in var.internal_invokers : member => member }
    )
  }
}

resource "google_cloud_run_service_iam_member" "invoker" {
  for_each = merge([
    for key, members in local.function_invokers : {
      for label, member in members : "${key}/${label}" => { function = key, member = member }
    }
  ]...)

  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# The trigger of each event function: a push subscription with an explicit retry policy and a
# dead-letter policy, delivering to the function as its invoker identity. functions-framework
# turns the push request into the messagePublished CloudEvent the entry point takes.
# list_messages has one per pipeline (local.push_subscriptions), on that pipeline's requests topic.
resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  name  = each.value.name
  topic = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds       = 600
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic["dead_letter"].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  # The endpoint's path names the topic: functions-framework reads it into the CloudEvent's
  # source, so the function knows which topic (and so which pipeline) a message came through
  # and keys its exactly-once ledger per topic. A pipeline cannot forge this: only the push
  # account may invoke the function (invoker IAM), and only Pub/Sub acts as that account. The
  # audience stays the service URL.
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.function[each.value.function].service_config[0].uri}/${local.topic_paths[each.value.topic]}"

    oidc_token {
      service_account_email = google_service_account.pubsub_push.email
      audience              = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri
    }
  }

  depends_on = [
    google_cloud_run_service_iam_member.invoker,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

# Pub/Sub's service agent acknowledges the messages it moves to the dead-letter topic.
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = google_pubsub_subscription.push

  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
