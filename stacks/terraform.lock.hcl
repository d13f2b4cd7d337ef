# This file is maintained automatically by "tofu init".
# Manual edits may be lost in future updates.

provider "registry.opentofu.org/hashicorp/random" {
  version     = "3.9.0"
  constraints = "3.9.0"
  hashes = [
    "h1:o5edhWmRNnxjhTkU2x1tdr/3twTyJQNR80bMgQGz1eA=",
  ]
}

provider "registry.opentofu.org/kreuzwerker/docker" {
  version     = "4.6.1-0.20260916201441-96d331c98ff4"
  constraints = "4.6.1-0.20260916201441-96d331c98ff4"
  hashes = [
    "h1:ND6dRtf6vi70eFzdNJSc9iLvzEwUheos1WvG80bJKnA=",
  ]
}

provider "registry.terraform.io/hashicorp/random" {
  version     = "3.9.0"
  constraints = "3.9.0"
  hashes = [
    "h1:o5edhWmRNnxjhTkU2x1tdr/3twTyJQNR80bMgQGz1eA=",
  ]
}

provider "registry.terraform.io/kreuzwerker/docker" {
  version     = "4.6.1-0.20260916201441-96d331c98ff4"
  constraints = "4.6.1-0.20260916201441-96d331c98ff4"
  hashes = [
    "h1:ND6dRtf6vi70eFzdNJSc9iLvzEwUheos1WvG80bJKnA=",
  ]
}
