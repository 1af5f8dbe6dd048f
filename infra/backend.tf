# The one place Terraform keeps state, for people and for Cloud Build alike: a Cloud Storage
# bucket (given at init: -backend-config=bucket=PROJECT-tfstate), under this prefix. The
# deployment's settings live beside it (PREFIX/terraform.tfvars), so Cloud Build applies exactly
# what was applied by hand (docs/deploying.md).
terraform {
  backend "gcs" {
    prefix = "gmail-server-side-auth"
  }
}
