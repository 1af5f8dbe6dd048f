# Inputs. Only project_id and region are required; every default follows the contract in docs/design.md.

variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the source bucket and the image repository (e.g. europe-west1); of the scheduler job too unless scheduler_region is set."
  type        = string
}

variable "scheduler_region" {
  description = "Region of the Cloud Scheduler job; the region when null. Cloud Scheduler is offered in fewer regions than Cloud Run functions (docs/deploying.md): set this when region is not one of them."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Location of the Firestore database (a region or a multi-region such as eur3); the region when null."
  type        = string
  default     = null
}

variable "create_firestore_database" {
  description = "Create the (default) Firestore database. Set to false when the project already has one (the functions use (default))."
  type        = bool
  default     = true
}

variable "import_firestore_rules_release" {
  description = "Adopt the existing Firestore rules release (cloud.firestore) instead of creating it. Null means: adopt when create_firestore_database is false (a database that exists has its release). Set true when an apply fails with \"Error creating Release: Resource already exists\", false when the adoption finds none."
  type        = bool
  default     = null
}

variable "runtime" {
  description = "Cloud Functions runtime ID of every function (python313: Python 3.13). make test runs the suite on this Python and fails when they differ (see the README)."
  type        = string
  default     = "python313"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime must be a Cloud Functions Python runtime ID such as python313."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "gmail-server-side-auth" }
}

# --- Secrets: Terraform creates the secrets, never their values (see docs/deploying.md). ---

variable "oauth_client_secret_id" {
  description = "Secret Manager secret holding the OAuth client JSON ({\"web\": {...}} as downloaded from the console)."
  type        = string
  default     = "oauth-client"
}

variable "oauth_client_secret_version" {
  description = "Version of the OAuth client secret the functions read (\"latest\" or a number)."
  type        = string
  default     = "latest"
}

variable "token_keys_secret_id" {
  description = "Secret Manager secret holding the private keys that open stored tokens ({\"primary\": ..., \"private_keys\": {...}}); mounted by internal functions only."
  type        = string
  default     = "token-keys"
}

variable "token_keys_secret_version" {
  description = "Version of the token keys secret the functions read (\"latest\" or a number)."
  type        = string
  default     = "latest"
}

variable "token_public_keys_secret_id" {
  description = "Secret Manager secret holding the public keys that seal tokens ({\"primary\": ..., \"public_keys\": {...}}, printed by `python -m functions.cli token-keys public`); mounted by oauth2callback."
  type        = string
  default     = "token-public-keys"
}

variable "token_public_keys_secret_version" {
  description = "Version of the token public keys secret oauth2callback reads (\"latest\" or a number)."
  type        = string
  default     = "latest"
}

variable "cookie_keys_secret_id" {
  description = "Secret Manager secret holding the AES keys of the consent cookies ({\"primary\": ..., \"keys\": {...}}); mounted by authorize and oauth2callback."
  type        = string
  default     = "cookie-keys"
}

variable "cookie_keys_secret_version" {
  description = "Version of the cookie keys secret the functions read (\"latest\" or a number)."
  type        = string
  default     = "latest"
}

variable "protect_secrets" {
  description = "Refuse to destroy the secrets (deletion_protection): the stored refresh tokens, which destroy keeps in Firestore, are readable only with the token keys. Set false and apply before a destroy that should remove them."
  type        = bool
  default     = true
}

# --- Application settings (environment variables of the functions). ---

variable "oauth_client_id" {
  description = "OAUTH_CLIENT_ID: the OAuth client's ID (...apps.googleusercontent.com, not a secret). authorize sends people to consent with it and mounts no client secret; oauth2callback checks that the client JSON names the same client."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.oauth_client_id))
    error_message = "oauth_client_id must be the OAuth client's ID, as the console shows it."
  }
}

variable "oauth_scopes" {
  description = "OAUTH_SCOPES: space-separated scopes; empty keeps the code's default (openid email gmail.readonly)."
  type        = string
  default     = ""
}

variable "gmail_quota_profile" {
  description = "GMAIL_QUOTA_PROFILE: the project's Gmail per-user quota, \"legacy\" (projects that used the Gmail API before May 2026: 15,000 units a user a minute, messages.get 5) or \"2026\" (projects created since: 6,000, messages.get 20); empty keeps the code's default (legacy). The readers pace themselves to it."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "legacy", "2026"], var.gmail_quota_profile)
    error_message = "gmail_quota_profile must be \"legacy\", \"2026\" or empty."
  }
}

variable "allowed_return_to" {
  description = "ALLOWED_RETURN_TO: URL prefixes that return_to may start with; empty shows the success page instead."
  type        = list(string)
  default     = []
}

variable "service_name" {
  description = "SERVICE_NAME: the service's name on the consent pages (\"<name> may: ...\"); empty: \"The service\"."
  type        = string
  default     = ""
}

variable "support_url" {
  description = "SUPPORT_URL: an https link to support, in the pages' footer (Google's consent screen verification asks for one); empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.support_url == "" || startswith(var.support_url, "https://")
    error_message = "support_url must be an https:// URL, or empty."
  }
}

variable "privacy_policy_url" {
  description = "PRIVACY_POLICY_URL: an https link to the privacy policy, in the pages' footer; empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.privacy_policy_url == "" || startswith(var.privacy_policy_url, "https://")
    error_message = "privacy_policy_url must be an https:// URL, or empty."
  }
}

variable "credentials_collection" {
  description = "CREDENTIALS_COLLECTION: Firestore collection of per-user documents."
  type        = string
  default     = "gmail_credentials"
}

variable "events_collection" {
  description = "EVENTS_COLLECTION: Firestore collection of processed-event markers (TTL on expires_at)."
  type        = string
  default     = "processed_events"
}

variable "auth_sessions_collection" {
  description = "AUTH_SESSIONS_COLLECTION: Firestore collection of used consent links (TTL on expires_at)."
  type        = string
  default     = "oauth_sessions"
}

# --- Pub/Sub. ---

variable "pipelines" {
  description = "The pipelines (consumers of mailbox data) this deployment serves, by name (a lowercase letter, then up to 29 lowercase letters, digits or hyphens). Each gets its own requests, results and re-auth topics, and IAM on those topics only: publishers (IAM members, e.g. serviceAccount:crm@P.iam.gserviceaccount.com) may publish its mailbox requests; consumers may read its results and re-auth events (through the pull subscriptions created for them). No project-level Pub/Sub role is needed by anyone. A user's mailbox is readable only by the pipelines they consented for (authorize?pipeline=NAME)."
  type = map(object({
    publishers = optional(list(string), [])
    consumers  = optional(list(string), [])
  }))
  default = { default = {} }

  validation {
    condition     = length(var.pipelines) > 0 && alltrue([for name in keys(var.pipelines) : can(regex("^[a-z][a-z0-9-]{0,29}$", name))])
    error_message = "pipelines needs at least one pipeline, each named by a lowercase letter and then up to 29 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = alltrue(flatten([for p in values(var.pipelines) : [for m in concat(p.publishers, p.consumers) : !contains(["allUsers", "allAuthenticatedUsers"], m)]]))
    error_message = "pipelines' publishers and consumers must name principals, never allUsers or allAuthenticatedUsers."
  }
}

variable "requests_topic" {
  description = "REQUESTS_TOPIC: template of each pipeline's requests topic ({pipeline} is its name); the pipeline publishes mailbox requests there and list_messages knows the pipeline by it."
  type        = string
  default     = "mailbox-requests-{pipeline}"
}

variable "results_topic" {
  description = "RESULTS_TOPIC: template of each pipeline's results topic ({pipeline} is its name)."
  type        = string
  default     = "mailbox-results-{pipeline}"
}

variable "reauth_topic" {
  description = "REAUTH_TOPIC: template of each pipeline's re-auth topic ({pipeline} is its name), told when a user who granted the pipeline must consent again."
  type        = string
  default     = "reauth-required-{pipeline}"
}

variable "gmail_push_topic" {
  description = "Topic Gmail publishes mailbox changes to (users.watch); only Gmail's push service account may publish."
  type        = string
  default     = "gmail-push"
}

variable "upkeep_topic" {
  description = "UPKEEP_TOPIC: the daily job's units of work, one message per user; only renew_watches publishes, upkeep_user receives."
  type        = string
  default     = "daily-upkeep"
}

variable "dead_letter_topic" {
  description = "Topic that receives the messages a function could not process after max_delivery_attempts."
  type        = string
  default     = "mailbox-dead-letter"
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message to an event function before it goes to the dead-letter topic (5-100)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100, as Pub/Sub allows."
  }
}

variable "retry_minimum_backoff" {
  description = "Shortest wait before Pub/Sub redelivers a message an event function failed (0s-600s)."
  type        = string
  default     = "10s"
}

variable "retry_maximum_backoff" {
  description = "Longest wait before Pub/Sub redelivers a message an event function failed (0s-600s)."
  type        = string
  default     = "600s"
}

# --- Who may call what. ---

variable "internal_invokers" {
  description = "IAM members (e.g. group:mail-operators@example.com or the operators' tooling, serviceAccount:ops-tools@P.iam.gserviceaccount.com) allowed to invoke the internal HTTP functions (disconnect, watch). Not per pipeline: an invoker may disconnect or watch any user of any pipeline, so never list a pipeline's account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.internal_invokers : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "internal_invokers must name principals, never allUsers or allAuthenticatedUsers."
  }
}

variable "risc_operators" {
  description = "IAM members (e.g. user:ops@example.com) who may act as the risc-admin service account to register the security_events receiver with Google (python -m functions.cli risc register --impersonate ...)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.risc_operators : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "risc_operators must name principals, never allUsers or allAuthenticatedUsers."
  }
}

variable "public_access" {
  description = "How the public functions (authorize, oauth2callback, security_events) are opened to browsers and Google: \"allUsers\" (roles/run.invoker for allUsers) or \"invoker_iam_disabled\" (no grant; Cloud Run's invoker IAM check is turned off on those services instead, for projects whose organisation policy restricts IAM members to a domain; see output public_access_commands)."
  type        = string
  default     = "allUsers"

  validation {
    condition     = contains(["allUsers", "invoker_iam_disabled"], var.public_access)
    error_message = "public_access must be allUsers or invoker_iam_disabled."
  }
}

variable "internal_http_ingress" {
  description = "Ingress of the internal HTTP functions: ALLOW_INTERNAL_ONLY (default) or ALLOW_INTERNAL_AND_GCLB, or ALLOW_ALL to let internal_invokers call from outside Google Cloud (IAM still required)."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_ALL"], var.internal_http_ingress)
    error_message = "internal_http_ingress must be ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB or ALLOW_ALL."
  }
}

# --- Scheduling and scale. ---

variable "renew_watches_schedule" {
  description = "Cron schedule of the watch renewal (Gmail watches expire after 7 days; Google recommends renewing daily)."
  type        = string
  default     = "17 3 * * *"
}

variable "scheduler_time_zone" {
  description = "Time zone of renew_watches_schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "function_sizing" {
  description = "Per-function overrides of the shipped sizing in infra/functions.json, keyed by entry point (e.g. { list_messages = { memory = \"1Gi\", max_instances = 50 } }). The defaults were chosen by measuring cold starts at each CPU share (README, Performance)."
  type = map(object({
    memory          = optional(string)
    cpu             = optional(string)
    min_instances   = optional(number)
    max_instances   = optional(number)
    concurrency     = optional(number)
    timeout_seconds = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for key in keys(var.function_sizing) : contains(keys(jsondecode(file("${path.module}/functions.json")).functions), key)])
    error_message = "function_sizing names a function that infra/functions.json does not describe."
  }
}
