terraform {
  # 1.7: import blocks with for_each (firestore.tf adopts the Firestore rules release).
  required_version = ">= 1.7"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.20"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
    # time_sleep: waits for API enablement and IAM propagation (apis.tf, functions.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}
