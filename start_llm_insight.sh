#!/usr/bin/env bash
# Start wilton-insight, the sidecar that analyses φ, latency, cost and routing and writes reports
# with an LLM's recommendations (sidecars/insight/). Every argument is passed through, e.g.
# ./start_llm_insight.sh --once --history 6 --out reports; run ./start_llm_insight.sh --help for the
# flags. Give secrets with WILTON_INSIGHT_PASSWORD / WILTON_INSIGHT_API_KEY or the --*-file flags
# rather than on the command line (the process list shows argv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -x "$ROOT/.venv/bin/python" ]]; then
  PYTHON="$ROOT/.venv/bin/python"
else
  PYTHON="$(command -v python3 || true)"
  [[ -n "$PYTHON" ]] || {
    echo "start_llm_insight: no .venv and no python3 found" >&2
    exit 1
  }
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m sidecars.insight "$@"
