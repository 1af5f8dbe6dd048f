provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = var.labels

  # Some APIs (the Firebase Rules API among them) refuse end-user credentials, such as those of
  # `gcloud auth application-default login`, unless a quota project is named: bill every call's
  # quota to the project being deployed (the caller needs serviceusage.services.use there).
  user_project_override = true
  billing_project       = var.project_id
}

# Read through the Cloud Resource Manager API, which a new project does not have enabled: read once
# it is (on the first apply the number is known only then; later plans read it as usual).
data "google_project" "this" {
  project_id = var.project_id

  depends_on = [time_sleep.apis_enabled]
}
