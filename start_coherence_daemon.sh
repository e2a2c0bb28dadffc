#!/usr/bin/env bash
# Start wilton-coherence, the sidecar that keeps the global φ on target (sidecars/coherence/).
# Every argument is passed through, e.g. ./start_coherence_daemon.sh --interval 5 --dry-run;
# run ./start_coherence_daemon.sh --help for the flags. Give the password with
# WILTON_COHERENCE_PASSWORD or --password-file rather than --password (the process list shows argv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -x "$ROOT/.venv/bin/python" ]]; then
  PYTHON="$ROOT/.venv/bin/python"
else
  PYTHON="$(command -v python3 || true)"
  [[ -n "$PYTHON" ]] || {
    echo "start_coherence_daemon: no .venv and no python3 found" >&2
    exit 1
  }
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m sidecars.coherence "$@"
