# shellcheck shell=bash
# Sourced by the sidecars' start scripts (start_coherence_daemon.sh, start_llm_insight.sh); not run.
# bash, set -euo pipefail in the caller.

# The repository: two folders above this file, wherever the caller was started from.
SIDECAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# exec_sidecar NAME MODULE [ARG...]: replace the shell with `python -m MODULE ARG...`, the
# repository's .venv Python if there is one, else python3, with the repository on PYTHONPATH.
# Without either Python: "NAME: no .venv and no python3 found" on stderr and exit 1.
exec_sidecar() {
  local name="$1" module="$2" python
  shift 2
  if [[ -x "$SIDECAR_ROOT/.venv/bin/python" ]]; then
    python="$SIDECAR_ROOT/.venv/bin/python"
  else
    python="$(command -v python3 || true)"
    [[ -n "$python" ]] || {
      echo "$name: no .venv and no python3 found" >&2
      exit 1
    }
  fi
  export PYTHONPATH="$SIDECAR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  exec "$python" -m "$module" "$@"
}
