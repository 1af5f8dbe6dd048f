# Topics: per pipeline, requests (it publishes), results and re-auth events (it reads); shared:
# Gmail push (Gmail publishes), daily upkeep (renew_watches does), dead letters. Grants: per topic.

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83:Encrypted at rest with Google-managed keys. Messages carry user IDs, e-mail addresses and Gmail message IDs, never tokens or mail content; CMEK needs a key ring and service-agent grants this configuration does not presume.
  for_each = local.topics

  name = each.value

  depends_on = [time_sleep.apis_enabled]
}

# Each function's account publishes to the topics its function writes (each pipeline's, for the
# results and re-auth kinds), and no others.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.function_publish_grants

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.value.function].member
}

# Every Pub/Sub grant is on one topic or subscription: nothing in infra/ grants a Pub/Sub role on
# the project, which would let a pipeline read other pipelines' results or forge Gmail
# notifications, results and re-auth events (tests/infra/test_pipeline_iam.py holds this).
# A pipeline's publishers may publish mailbox requests to its requests topic only: list_messages
# answers a request as coming from the pipeline whose topic delivered it.
resource "google_pubsub_topic_iam_member" "pipeline_publisher" {
  for_each = local.pipeline_publish_grants

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = each.value.member
}

# A pipeline's consumers read its results and re-auth topics only: they may attach
# subscriptions of their own to them...
resource "google_pubsub_topic_iam_member" "pipeline_consumer" {
  for_each = local.pipeline_consume_grants

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.subscriber"
  member = each.value.member
}

# ...and pull from the subscriptions created for them here (creating a subscription needs a
# project-level permission, which pipelines are not given).
resource "google_pubsub_subscription" "pipeline" {
  for_each = local.pipeline_subscriptions

  name  = each.value.name
  topic = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "pipeline_consumer" {
  for_each = local.pipeline_consume_grants

  subscription = google_pubsub_subscription.pipeline[each.value.subscription].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

# users.watch names this topic; Gmail publishes as its push service account, and nobody else may.
resource "google_pubsub_topic_iam_member" "gmail_push_publisher" {
  topic  = google_pubsub_topic.topic["gmail_push"].id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:gmail-api-push@system.gserviceaccount.com"
}

# Pub/Sub moves undeliverable messages to the dead-letter topic as its service agent.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.topic["dead_letter"].id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# Dead letters wait here, seven days, for someone to look at them or replay them.
resource "google_pubsub_subscription" "dead_letter" {
  name  = "${var.dead_letter_topic}-hold"
  topic = google_pubsub_topic.topic["dead_letter"].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
