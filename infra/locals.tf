# What to deploy, derived from the code and the variables only (no resource references), so the
# contract test can evaluate it offline. tests/infra/ holds this file against main.py and
# functions/config.py.

locals {
  repo_root = abspath("${path.module}/..")

  # The entry points main.py declares, with the decorator that says how each is triggered. Only
  # those are deployed, so this infra follows main.py as entry points are added.
  entry_point_pattern = "@functions_framework\\.(http|cloud_event)\\s+def\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*\\("
  entry_points = {
    for match in regexall(local.entry_point_pattern, file("${local.repo_root}/main.py")) :
    match[1] => match[0]
  }

  # One Cloud Function per entry point, keyed by the entry point's name, from the one definition
  # that deploy.sh and the local stack also follow (infra/functions.json; devstack/deployment.py
  # reads it for them):
  # - trigger: "http" for @functions_framework.http, "pubsub" for @functions_framework.cloud_event
  #   (a push subscription on `topic`, with retry and dead-letter policies, delivers messages);
  # - access: "public" (browser-facing, invocable by anyone), "internal" (var.internal_invokers,
  #   through var.internal_http_ingress), "pubsub" (the push subscription's identity) or
  #   "scheduler"; every function but the public ones is invoked through IAM only;
  # - secrets: the secrets it reads, each mounted as a file (local.secrets) that only its
  #   service account may read;
  # - firestore: whether its service account may use the database (authorize writes nothing);
  # - pages: it shows people pages (their settings and OAUTH_CLIENT_ID); client_id: it gets
  #   OAUTH_CLIENT_ID without pages (the security events receiver: no client secret mounted);
  # - publishes: the topics it may publish to, each also setting that topic's variable;
  #   names_topics: topics it only names (users.watch; list_messages knows a request's
  #   pipeline by its requests topic), which set the variable too;
  # - sizing: the shipped default, overridden per function by var.function_sizing.
  definition = jsondecode(file("${path.module}/functions.json"))
  functions = {
    for key, fn in local.definition.functions : key => merge(fn, {
      public  = fn.access == "public"
      ingress = fn.access == "public" ? "ALLOW_ALL" : fn.access == "internal" ? var.internal_http_ingress : "ALLOW_INTERNAL_ONLY"
      sizing = merge(fn.sizing, {
        for field, value in try(var.function_sizing[key], {}) : field => value if value != null
      })
    })
  }

  # The functions main.py has today.
  deployed_functions = { for key, fn in local.functions : key => fn if contains(keys(local.entry_points), key) }
  event_functions    = { for key, fn in local.deployed_functions : key => fn if fn.trigger == "pubsub" }
  public_functions   = { for key, fn in local.deployed_functions : key => fn if fn.public }

  # Pipelines: each has its own requests, results and re-auth topics, named by the templates
  # ({pipeline} is the pipeline's name) and keyed "KIND/PIPELINE"; the Gmail push, daily upkeep and
  # dead-letter topics are shared. A function that publishes a pipeline topic kind publishes to that kind of
  # topic of every pipeline, and its variable holds the template.
  pipeline_names = sort(keys(var.pipelines))
  pipeline_topic_templates = {
    requests = var.requests_topic
    results  = var.results_topic
    reauth   = var.reauth_topic
  }
  shared_topics = {
    gmail_push  = var.gmail_push_topic
    upkeep      = var.upkeep_topic
    dead_letter = var.dead_letter_topic
  }
  topics = merge(
    {
      for pair in setproduct(keys(local.pipeline_topic_templates), local.pipeline_names) :
      "${pair[0]}/${pair[1]}" => replace(local.pipeline_topic_templates[pair[0]], "{pipeline}", pair[1])
    },
    local.shared_topics,
  )
  topic_paths = { for key, id in local.topics : key => "projects/${var.project_id}/topics/${id}" }
  # What a function's variable says of each topic kind: a template for the pipeline kinds.
  topic_env_values = {
    for key, id in merge(local.pipeline_topic_templates, local.shared_topics) :
    key => "projects/${var.project_id}/topics/${id}"
  }
  # The topic keys a function's topic key stands for: one per pipeline for the pipeline kinds.
  topic_instances = merge(
    { for kind in keys(local.pipeline_topic_templates) : kind => [for p in local.pipeline_names : "${kind}/${p}"] },
    { for kind in keys(local.shared_topics) : kind => [kind] },
  )

  # The variable through which a function learns a topic it publishes to or names.
  topic_env_vars = local.definition.topic_variables

  # Each event function's push subscriptions: one per topic its topic key stands for, so
  # list_messages has one per pipeline and knows the pipeline by the topic it delivers from.
  push_subscriptions = merge([
    for key, fn in local.event_functions : {
      for topic in local.topic_instances[fn.topic] : (topic == fn.topic ? key : "${key}/${split("/", topic)[1]}") => {
        function = key
        topic    = topic
        name     = topic == fn.topic ? "${fn.name}-push" : "${fn.name}-${split("/", topic)[1]}-push"
      }
    }
  ]...)

  # Who may publish where: each function's account on the topics its function writes (every
  # pipeline's, for a pipeline kind), Gmail on the push topic, Pub/Sub's agent on the dead
  # letters, and each pipeline's publishers on that pipeline's requests topic only. Keyed by
  # static labels (service account e-mails are known only at apply).
  function_publish_grants = merge([
    for key, fn in local.deployed_functions : {
      for topic in flatten([for kind in fn.publishes : local.topic_instances[kind]]) :
      "${key}/${topic}" => { function = key, topic = topic }
    }
  ]...)
  pipeline_publish_grants = merge([
    for p in local.pipeline_names : {
      for member in var.pipelines[p].publishers : "requests/${p}/${member}" => {
        topic = "requests/${p}", member = member
      }
    }
  ]...)
  # Each pipeline's consumers read its results and re-auth events: roles/pubsub.subscriber on
  # those two topics (to attach subscriptions of their own) and on the pull subscriptions created
  # for them (to pull and acknowledge), and nothing of any other pipeline.
  pipeline_subscriptions = {
    for pair in setproduct(["results", "reauth"], local.pipeline_names) : "${pair[0]}/${pair[1]}" => {
      topic = "${pair[0]}/${pair[1]}"
      name  = "${local.topics["${pair[0]}/${pair[1]}"]}-pull"
    }
  }
  pipeline_consume_grants = merge([
    for key, subscription in local.pipeline_subscriptions : {
      for member in var.pipelines[split("/", key)[1]].consumers : "${key}/${member}" => {
        topic = subscription.topic, subscription = key, member = member
      }
    }
  ]...)
  pipelines_env = join(",", local.pipeline_names)

  # Each secret reaches its functions as a file: Cloud Run mounts it at mount_path/file and
  # fetches the version from Secret Manager when the file is read (the code reads it once per
  # instance), so no function imports the Secret Manager client on cold start (~180-210 ms here)
  # and values never reach Terraform state or the environment. `variable` is the configuration
  # variable that is given the file's path.
  secret_ids = {
    oauth_client      = { id = var.oauth_client_secret_id, version = var.oauth_client_secret_version }
    token_keys        = { id = var.token_keys_secret_id, version = var.token_keys_secret_version }
    token_public_keys = { id = var.token_public_keys_secret_id, version = var.token_public_keys_secret_version }
    cookie_keys       = { id = var.cookie_keys_secret_id, version = var.cookie_keys_secret_version }
  }
  secrets = {
    for key, secret in local.definition.secrets : key => merge(secret, local.secret_ids[key])
  }

  # The secret volumes of each function: one per secret it reads, each in its own directory (a
  # mount shadows its whole directory).
  secret_volumes = {
    for key, fn in local.functions : key => [
      for secret in fn.secrets : {
        secret     = local.secrets[secret].id
        version    = local.secrets[secret].version
        mount_path = local.secrets[secret].mount_path
        file       = local.secrets[secret].file
      }
    ]
  }

  # authorize and oauth2callback share a host cookie, so both are addressed on the
  # cloudfunctions.net host, where each function is served at /NAME.
  functions_host = "https://${var.region}-${var.project_id}.cloudfunctions.net"
  authorize_url  = "${local.functions_host}/authorize"
  callback_url   = "${local.functions_host}/oauth2callback"

  # Every function's start-up configuration (functions/config.py), as devstack/deployment.py
  # derives it for deploy.sh and the local stack. The secrets' variables hold the paths of their
  # mounted files (local.secrets), set per function from what it mounts.
  common_env = {
    GOOGLE_CLOUD_PROJECT     = var.project_id
    OAUTH_REDIRECT_URI       = local.callback_url
    AUTHORIZE_URL            = local.authorize_url
    CREDENTIALS_COLLECTION   = var.credentials_collection
    EVENTS_COLLECTION        = var.events_collection
    AUTH_SESSIONS_COLLECTION = var.auth_sessions_collection
    PIPELINES                = local.pipelines_env
    # Cloud Functions sets this itself; stating it avoids a permanent diff on every plan.
    LOG_EXECUTION_ID = "true"
  }
  # Set only when given, so that the code's defaults apply otherwise.
  optional_env = merge(
    var.oauth_scopes == "" ? {} : { OAUTH_SCOPES = var.oauth_scopes },
    var.gmail_quota_profile == "" ? {} : { GMAIL_QUOTA_PROFILE = var.gmail_quota_profile },
    length(var.allowed_return_to) == 0 ? {} : { ALLOWED_RETURN_TO = join(",", var.allowed_return_to) },
  )
  # What the pages show (the functions marked "pages" in functions.json), set only when given.
  page_env = merge(
    var.service_name == "" ? {} : { SERVICE_NAME = var.service_name },
    var.support_url == "" ? {} : { SUPPORT_URL = var.support_url },
    var.privacy_policy_url == "" ? {} : { PRIVACY_POLICY_URL = var.privacy_policy_url },
  )
  function_env = {
    for key, fn in local.functions : key => merge(
      local.common_env,
      local.optional_env,
      try(fn.pages, false) ? local.page_env : {},
      # Which client they are: authorize sends people to consent with it and the security events
      # receiver expects it as the audience, neither mounting the client secret.
      try(fn.pages, false) || try(fn.client_id, false) ? { OAUTH_CLIENT_ID = var.oauth_client_id } : {},
      { for secret in fn.secrets : local.secrets[secret].variable => "${local.secrets[secret].mount_path}/${local.secrets[secret].file}" },
      { for topic in concat(fn.publishes, fn.names_topics) : local.topic_env_vars[topic] => local.topic_env_values[topic] },
    )
  }

  # Cloud Scheduler's regions are a separate, shorter list than Cloud Run's.
  scheduler_region = coalesce(var.scheduler_region, var.region)

  # A database that already exists has its rules release, which Terraform then adopts (firestore.tf).
  import_rules_release = coalesce(var.import_firestore_rules_release, !var.create_firestore_database)

  # With public_access = "invoker_iam_disabled", what opens the browser-facing functions instead
  # of an allUsers grant (the google provider has no argument for it on a Cloud Function).
  public_access_commands = var.public_access == "invoker_iam_disabled" ? [
    for key, fn in local.public_functions :
    "gcloud run services update ${fn.name} --project=${var.project_id} --region=${var.region} --no-invoker-iam-check"
  ] : []

  # Documents that expire: collection group => timestamp field of its TTL policy.
  ttl_fields = {
    (var.auth_sessions_collection) = "expires_at"
    (var.events_collection)        = "expires_at"
    security_events                = "expires_at" # received security event IDs (jti)
    leases                         = "expires_at" # per-user refresh leases, a subcollection
    gmail_slots                    = "expires_at" # per-user Gmail call slots, a subcollection
  }

  # The source upload honours .gcloudignore as `gcloud functions deploy` does. It is an
  # allowlist (gitignore semantics, last match wins): `*` first, then `!NAME`, `!NAME/` or
  # `!NAME/**` lines naming the top-level files and folders a function needs, then patterns that
  # leave things out inside them (source.tf refuses any other shape).
  gcloudignore = [
    for line in split("\n", file("${local.repo_root}/.gcloudignore")) : trimspace(line)
    if trimspace(line) != "" && !startswith(trimspace(line), "#")
  ]
  source_allow_lines = [for pattern in local.gcloudignore : pattern if startswith(pattern, "!")]
  source_deny_lines  = slice(local.gcloudignore, 1 + length(local.source_allow_lines), length(local.gcloudignore))
  gcloudignore_is_allowlist = (
    length(local.gcloudignore) > 0 && try(local.gcloudignore[0], "") == "*"
    && alltrue([for pattern in local.source_allow_lines : can(regex("^![A-Za-z0-9_.]+(/|/[*][*])?$", pattern))])
    && alltrue([for index, pattern in local.gcloudignore : index == 0 || startswith(pattern, "!") == (index <= length(local.source_allow_lines))])
  )
  source_allowed = distinct([for pattern in local.source_allow_lines : trimsuffix(trimsuffix(trimprefix(pattern, "!"), "/**"), "/")])

  # archive_file takes only excludes (doublestar globs matched against each relative path, a
  # matched folder skipped whole), so the allowlist becomes its complement at the top level. For
  # each proper prefix P of an allowed name (the empty one included): every name that leaves the
  # allowed names at the character after P (`fu[^n]*`), and P itself unless it is allowed; for
  # each allowed name that no other one extends, every longer name (`main.py?*`). A name that
  # matches none of these is an allowed name.
  source_prefixes = distinct(flatten([
    for name in local.source_allowed : [for end in range(length(name)) : substr(name, 0, end)]
  ]))
  source_top_level_excludes = concat(
    [
      for prefix in local.source_prefixes : "${prefix}[^${join("", distinct([
        for name in local.source_allowed : substr(name, length(prefix), 1)
        if length(name) > length(prefix) && startswith(name, prefix)
      ]))}]*"
    ],
    [for prefix in local.source_prefixes : prefix if prefix != "" && !contains(local.source_allowed, prefix)],
    [for name in local.source_allowed : "${name}?*" if !contains(local.source_prefixes, name)],
  )
  # Inside the allowed folders, the lines after the allowlist: a pattern without an inner or
  # leading slash matches at any depth.
  source_excludes = concat(
    local.source_top_level_excludes,
    flatten([
      for pattern in local.source_deny_lines : (
        strcontains(trimsuffix(pattern, "/"), "/")
        ? [trimprefix(trimsuffix(pattern, "/"), "/")]
        : [trimsuffix(pattern, "/"), "**/${trimsuffix(pattern, "/")}"]
      )
    ]),
  )
}
