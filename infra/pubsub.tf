# Topics: mailbox requests (pipelines publish), results and re-auth events (the functions
# publish), Gmail push (only Gmail publishes) and the dead letters of the event functions.

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83:Encrypted at rest with Google-managed keys. Messages carry user IDs, e-mail addresses and Gmail message IDs, never tokens or mail content; CMEK needs a key ring and service-agent grants this configuration does not presume.
  for_each = local.topics

  name = each.value

  depends_on = [time_sleep.apis_enabled]
}

# Each function's account publishes to the topics its function writes, and no others.
resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = {
    for pair in flatten([
      for key, fn in local.deployed_functions : [
        for topic in fn.publishes : { function = key, topic = topic }
      ]
    ]) : "${pair.function}/${pair.topic}" => pair
  }

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.function[each.value.function].member
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
