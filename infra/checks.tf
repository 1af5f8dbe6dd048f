# Settings that must agree with each other, refused at plan time: Terraform 1.7 has no validation
# across variables. deploy.sh and functions/config.py refuse the same.
resource "terraform_data" "settings" {
  lifecycle {
    precondition {
      # Without {pipeline}, the topics of several pipelines would all get the same name.
      condition = length(var.pipelines) <= 1 || alltrue([
        for template in [var.requests_topic, var.results_topic, var.reauth_topic] : strcontains(template, "{pipeline}")
      ])
      error_message = "requests_topic, results_topic and reauth_topic must hold {pipeline} when there are several pipelines (each has its own topics)."
    }
  }
}
