#!/usr/bin/env bash
# Serve LiteLLM's Prometheus metrics (Wilton's included), summed over every proxy worker, on port
# 8000. Run ./start_metrics_exporter.sh --help for the details.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST="${METRICS_HOST:-127.0.0.1}"
PORT="${METRICS_PORT:-8000}"
MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-}"
# Importing litellm loads its cost map: the bundled one, never a fetch from GitHub.
export LITELLM_LOCAL_MODEL_COST_MAP=True

usage() {
  cat <<'EOF'
Usage: ./start_metrics_exporter.sh [--host HOST] [--port PORT] [--multiproc-dir DIR] [--help]

Serves the proxy's Prometheus metrics (LiteLLM's and Wilton's), summed over every worker, at
http://HOST:PORT/metrics, with LiteLLM's own exporter:

  python -m litellm.proxy.prometheus_metrics_server --host HOST --port PORT --multiproc_dir DIR

It reads the samples the proxy's workers write to PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode); it needs no auth and never runs on an inference worker.

Two ways to run the exporter, use ONE of them:
  1. Usually: start the proxy with `--prometheus_metrics_port 8000`. LiteLLM then starts this same
     exporter itself, as a child of the proxy, and this script has nothing to do: when the port
     already answers as LiteLLM's exporter, it says so and exits 0. `make up` does this.
  2. A proxy started WITHOUT --prometheus_metrics_port, whose workers write to a directory you
     chose (export PROMETHEUS_MULTIPROC_DIR=/some/dir before starting it): run this script with
     the same PROMETHEUS_MULTIPROC_DIR and it serves that directory. Note that LiteLLM wipes the
     directory when a proxy starts.

The exporter runs in the foreground and stops on SIGTERM/SIGINT.

Options:
  --host HOST            address to listen on (env METRICS_HOST; default 127.0.0.1)
  --port PORT            port to listen on (env METRICS_PORT; default 8000, what
                         prometheus/prometheus.yml scrapes)
  --multiproc-dir DIR    the proxy's multiprocess directory (env PROMETHEUS_MULTIPROC_DIR)
  --help                 show this help

Exit status: 0 stopped, or the port is already served by LiteLLM's exporter; 1 an error
(no multiprocess directory, the port taken by something else, no Python with LiteLLM).
EOF
}

say() { printf 'start_metrics_exporter: %s\n' "$*"; }
die() {
  printf 'start_metrics_exporter: error: %s\n' "$*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --help | -h)
      usage
      exit 0
      ;;
    --host)
      [[ $# -ge 2 ]] || die "--host needs a value"
      HOST="$2"
      shift
      ;;
    --port)
      [[ $# -ge 2 ]] || die "--port needs a value"
      PORT="$2"
      shift
      ;;
    --multiproc-dir | --multiproc_dir)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      MULTIPROC_DIR="$2"
      shift
      ;;
    *)
      usage >&2
      die "unknown argument: $1"
      ;;
  esac
  shift
done

if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
  die "the port must be a number in 1..65535, not '$PORT'"
fi
PORT=$((10#$PORT))

if [[ -x "$ROOT/.venv/bin/python" ]]; then
  PYTHON="$ROOT/.venv/bin/python"
else
  PYTHON="$(command -v python3 || true)"
  [[ -n "$PYTHON" ]] || die "no .venv and no python3 found; run \`make setup\` first"
fi

probe_host="$HOST"
case "$probe_host" in
  0.0.0.0) probe_host=127.0.0.1 ;;
  ::) probe_host=::1 ;;
esac

# Does the port already answer as LiteLLM's exporter (x-litellm-metrics-pid on /metrics)?
# 0: yes, LiteLLM's exporter; 1: nothing listens; 2: something else listens.
probe() {
  "$PYTHON" - "$probe_host" "$PORT" <<'PY'
import sys, urllib.request
host, port = sys.argv[1], sys.argv[2]
netloc = f"[{host}]" if ":" in host else host
try:
    with urllib.request.urlopen(f"http://{netloc}:{port}/metrics", timeout=2) as response:
        sys.exit(0 if response.headers.get("x-litellm-metrics-pid") else 2)
except urllib.error.HTTPError:
    sys.exit(2)
except OSError:
    sys.exit(1)
PY
}

status=0
probe || status=$?
if [[ $status -eq 0 ]]; then
  say "LiteLLM's exporter already serves http://$probe_host:$PORT/metrics (a proxy started with --prometheus_metrics_port $PORT, or another exporter): nothing to do"
  exit 0
elif [[ $status -eq 2 ]]; then
  die "$probe_host:$PORT is already in use by something that is not LiteLLM's exporter; choose another port with --port"
fi

if [[ -z "$MULTIPROC_DIR" ]]; then
  die "PROMETHEUS_MULTIPROC_DIR is not set and nothing serves port $PORT. Either start the proxy with --prometheus_metrics_port $PORT (it then runs this exporter itself), or export PROMETHEUS_MULTIPROC_DIR=DIR before starting the proxy and run this script with the same DIR."
fi
[[ -d "$MULTIPROC_DIR" ]] || die "PROMETHEUS_MULTIPROC_DIR=$MULTIPROC_DIR is not a directory; start the proxy with that variable set first (its workers create the samples there)"
"$PYTHON" -c 'import litellm.proxy.prometheus_metrics_server' 2>/dev/null ||
  die "$PYTHON cannot import litellm.proxy.prometheus_metrics_server; run \`make setup\` first"

say "serving $MULTIPROC_DIR on http://$probe_host:$PORT/metrics (Ctrl-C or SIGTERM stops it)"
# Not exec: LiteLLM's exporter exits when its parent process goes away, so this script stays its
# parent (and forwards SIGTERM/SIGINT) for as long as it runs.
"$PYTHON" -m litellm.proxy.prometheus_metrics_server --host "$HOST" --port "$PORT" --multiproc_dir "$MULTIPROC_DIR" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT
rc=0
wait "$child" || rc=$?
# A trapped signal interrupts the first wait: wait again for the child's real exit.
if kill -0 "$child" 2>/dev/null; then
  wait "$child" || rc=$?
fi
exit "$rc"
