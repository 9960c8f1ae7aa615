#!/usr/bin/env bash
# Lint template.yaml (OPS-1): cfn-lint with the serverless rules must report
# nothing (no error, no warning). Then, only where the SAM CLI is installed,
# `sam validate --lint`. checkov is run separately: see infra/lint/README.md.
#
# Usage: bash infra/lint-template.sh   (from anywhere; needs .venv with
# infra/lint/requirements.txt installed)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cfn_lint=".venv/bin/cfn-lint"
if [[ ! -x "$cfn_lint" ]]; then
  echo "lint-template: $cfn_lint missing; run: .venv/bin/pip install -r infra/lint/requirements.txt" >&2
  exit 1
fi

# cfn-lint exits non-zero on any error (2), warning (4) or informational (8)
# finding it reports; with set -e that fails the script.
echo "cfn-lint $("$cfn_lint" --version | awk '{print $2}') + cfn-lint-serverless rules: template.yaml"
"$cfn_lint" --append-rules cfn_lint_serverless.rules -- template.yaml
echo "cfn-lint: no findings"

sam=""
if command -v sam >/dev/null 2>&1; then
  sam="$(command -v sam)"
elif [[ -x .venv-sam/bin/sam ]]; then
  sam=".venv-sam/bin/sam"
fi

if [[ -n "$sam" ]]; then
  echo "sam validate --lint ($sam)"
  SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
    "$sam" validate --lint --template-file template.yaml
else
  echo "sam: not installed, skipping sam validate --lint"
fi
