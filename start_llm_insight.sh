#!/usr/bin/env bash
# Start wilton-insight, the sidecar that analyses φ, latency, cost and routing and writes reports
# with an LLM's recommendations (sidecars/insight/). Every argument is passed through, e.g.
# ./start_llm_insight.sh --once --history 6 --out reports; run ./start_llm_insight.sh --help for the
# flags. Give secrets with WILTON_INSIGHT_PASSWORD / WILTON_INSIGHT_API_KEY or the --*-file flags
# rather than on the command line (the process list shows argv).
set -euo pipefail

# shellcheck source=scripts/lib/sidecar.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib/sidecar.sh"
exec_sidecar start_llm_insight sidecars.insight "$@"
