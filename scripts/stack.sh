#!/usr/bin/env bash
# Wilton's long-running local stack (`make up`, `make down`, `make status`).
# Run scripts/stack.sh --help for the details.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"

usage() {
  cat <<'EOF'
Usage: scripts/stack.sh up|down|status|--help

A long-running local Wilton stack, started in the seed's order, each part in the background
with its log and pid file in .run/:

  1. dashboard   ./start_dashboard.sh: Prometheus + Grafana with Docker, else a local Prometheus
                 (a failure here is reported and the stack goes on without it)
  2. proxy       litellm --config $WILTON_CONFIG --port $PROXY_PORT --prometheus_metrics_port 8000
                 (with LITELLM_LOCAL_MODEL_COST_MAP=True: LiteLLM's bundled cost map, no fetch
                 from GitHub at start-up)
                 (the local models are the config's deployments; the proxy's exporter, the
                 seed's "metrics exporter", serves every worker's metrics on 127.0.0.1:8000)
  3. coherence   ./start_coherence_daemon.sh --interval 30 ... (when the script exists)
  4. insight     ./start_llm_insight.sh (when the script exists)

  up       start the stack (refuses when a needed environment variable is missing, or when a
           stack started from here still runs)
  down     stop it in reverse order: SIGTERM, up to 15 s, then SIGKILL; then ./start_dashboard.sh --stop
  status   what runs, with pids, ports and logs

Environment (a .env file at the repository root, if present, is loaded first and overrides it):
  LITELLM_MASTER_KEY     required: the proxy's master key
  every os.environ/NAME the config uses (config/litellm_config.yaml: OLLAMA_SELFHOST_URL,
                         OLLAMA_EDGE_URL, OPENAI_API_KEY, GEMINI_API_KEY)
  WILTON_CONFIG          the proxy's YAML (default config/litellm_config.yaml)
  PROXY_PORT             proxy port on 127.0.0.1 (default 4000); the exporter is on 8000
  PROMETHEUS_PORT        Prometheus port (default 9090)
  PROMETHEUS_MULTIPROC_DIR  the workers' metric files (default .run/prometheus_multiproc)
  WILTON_STACK_COHERENCE=0 / WILTON_STACK_INSIGHT=0 / WILTON_STACK_DASHBOARD=0  leave that part out
  For the sidecars (both log in to the proxy's admin API):
    a proxy user (UI_USERNAME/UI_PASSWORD or WILTON_ADMIN_USERS[_FILE]) and a signing key
    (WILTON_JWT_SECRET[_FILE] or WILTON_JWT_PRIVATE_KEY_FILE, or WILTON_DEV_MODE=1);
    coherence: WILTON_COHERENCE_PASSWORD or WILTON_COHERENCE_PASSWORD_FILE, as the user
      WILTON_COHERENCE_USERNAME (default: UI_USERNAME, else admin);
    insight: WILTON_INSIGHT_PASSWORD or WILTON_INSIGHT_PASSWORD_FILE, as the user
      WILTON_INSIGHT_USERNAME (default: UI_USERNAME, else admin); without its own password it
      reuses the coherence sidecar's when both log in as the same user
EOF
}

say() { printf 'stack: %s\n' "$*"; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}

load_env() {
  if [[ -f "$ROOT/.env" ]]; then
    say "loading $ROOT/.env"
    set -a
    # shellcheck disable=SC1091
    . "$ROOT/.env"
    set +a
  fi
  CONFIG="${WILTON_CONFIG:-config/litellm_config.yaml}"
  [[ "$CONFIG" == /* ]] || CONFIG="$ROOT/$CONFIG"
  PROXY_PORT="${PROXY_PORT:-4000}"
  METRICS_PORT=8000
  export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
  export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$RUN_DIR/prometheus_multiproc}"
  # The sidecars log in as the proxy's UI_USERNAME unless told otherwise.
  COHERENCE_USER="${WILTON_COHERENCE_USERNAME:-${UI_USERNAME:-admin}}"
  INSIGHT_USER="${WILTON_INSIGHT_USERNAME:-${UI_USERNAME:-admin}}"
  if [[ -x "$ROOT/.venv/bin/litellm" ]]; then
    LITELLM="$ROOT/.venv/bin/litellm"
  else
    LITELLM="$(command -v litellm || true)"
  fi
}

# The order things start in; down walks it backwards.
PARTS=(proxy coherence insight)

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$RUN_DIR/$1.log"; }

# The pid of a part we started, if it is still alive.
alive_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

enabled() { [[ "${1:-1}" != 0 ]]; }

# Refuse, listing every missing variable at once, before anything starts.
check_env() {
  local missing=() name
  [[ -f "$CONFIG" ]] || die "the proxy config $CONFIG does not exist (WILTON_CONFIG)"
  [[ -n "$LITELLM" ]] || die "no litellm executable (.venv/bin/litellm): run \`make setup\` first"
  [[ "$PROXY_PORT" =~ ^[0-9]+$ ]] || die "PROXY_PORT must be a port number, not '$PROXY_PORT'"
  [[ -n "${LITELLM_MASTER_KEY:-}" ]] || missing+=("LITELLM_MASTER_KEY (the proxy's master key, e.g. sk-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'))")
  # Every os.environ/NAME on a line that is not a comment.
  while IFS= read -r name; do
    [[ -n "$name" && "$name" != LITELLM_MASTER_KEY && -z "${!name:-}" ]] && missing+=("$name (used by ${CONFIG#"$ROOT"/})")
  done < <(grep -v '^[[:space:]]*#' "$CONFIG" | grep -o 'os\.environ/[A-Za-z_][A-Za-z0-9_]*' | sed 's#os\.environ/##' | sort -u)
  local coherence=false insight=false
  enabled "${WILTON_STACK_COHERENCE:-1}" && [[ -x "$ROOT/start_coherence_daemon.sh" ]] && coherence=true
  enabled "${WILTON_STACK_INSIGHT:-1}" && [[ -x "$ROOT/start_llm_insight.sh" ]] && insight=true
  if "$coherence"; then
    [[ -n "${WILTON_COHERENCE_PASSWORD:-}${WILTON_COHERENCE_PASSWORD_FILE:-}" ]] ||
      missing+=("WILTON_COHERENCE_PASSWORD or WILTON_COHERENCE_PASSWORD_FILE (the coherence sidecar's admin password; or WILTON_STACK_COHERENCE=0)")
  fi
  INSIGHT_REUSES_COHERENCE=false
  if "$insight" && [[ -z "${WILTON_INSIGHT_PASSWORD:-}${WILTON_INSIGHT_PASSWORD_FILE:-}" ]]; then
    if [[ -n "${WILTON_COHERENCE_PASSWORD:-}${WILTON_COHERENCE_PASSWORD_FILE:-}" && "$INSIGHT_USER" == "$COHERENCE_USER" ]]; then
      INSIGHT_REUSES_COHERENCE=true
    else
      missing+=("WILTON_INSIGHT_PASSWORD or WILTON_INSIGHT_PASSWORD_FILE (the insight sidecar's admin password, for the user $INSIGHT_USER; or WILTON_STACK_INSIGHT=0)")
    fi
  fi
  if "$coherence" || "$insight"; then
    [[ -n "${UI_PASSWORD:-}${WILTON_ADMIN_USERS:-}${WILTON_ADMIN_USERS_FILE:-}" ]] ||
      missing+=("UI_USERNAME/UI_PASSWORD or WILTON_ADMIN_USERS[_FILE] (the proxy's admin user the sidecars log in as)")
    [[ -n "${WILTON_JWT_SECRET:-}${WILTON_JWT_SECRET_FILE:-}${WILTON_JWT_PRIVATE_KEY_FILE:-}" || "${WILTON_DEV_MODE:-}" == 1 ]] ||
      missing+=("WILTON_JWT_SECRET (>= 32 bytes; or WILTON_JWT_SECRET_FILE / WILTON_JWT_PRIVATE_KEY_FILE, or WILTON_DEV_MODE=1)")
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    printf 'stack: error: refusing to start, these environment variables are not set (export them or put them in .env):\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
  fi
}

# Start "$@" in its own session (so down can stop its children too), log and pid in .run/.
spawn() {
  local part="$1"
  shift
  local log
  log="$(log_file "$part")"
  printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
  # In a script, a background job is not a process group leader, so setsid execs in place and
  # $! is the pid, the session id and the process group id of the part.
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo "$!" >"$(pid_file "$part")"
  say "started $part (pid $!, log ${log#"$ROOT"/})"
}

wait_for_proxy() {
  local pid="$1" _
  for _ in $(seq 1 240); do
    kill -0 "$pid" 2>/dev/null || {
      tail -n 30 "$(log_file proxy)" >&2 || true
      return 1
    }
    if curl -fsS -o /dev/null "http://127.0.0.1:$PROXY_PORT/health/liveliness" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$(log_file proxy)" >&2 || true
  return 1
}

up() {
  load_env
  local part pid
  for part in "${PARTS[@]}"; do
    if pid="$(alive_pid "$part")"; then
      die "$part is already running (pid $pid): \`make down\` first, or \`make status\`"
    fi
  done
  check_env
  command -v setsid >/dev/null || die "setsid (util-linux) is needed"
  command -v curl >/dev/null || die "curl is needed"
  for port in "$PROXY_PORT" "$METRICS_PORT"; do
    port_in_use "$port" && die "127.0.0.1:$port is already in use; stop what holds it (or choose PROXY_PORT=...)"
  done
  mkdir -p "$RUN_DIR" "$PROMETHEUS_MULTIPROC_DIR"
  # 1. dashboard
  rm -f "$RUN_DIR/stack.dashboard"
  if enabled "${WILTON_STACK_DASHBOARD:-1}"; then
    if "$ROOT/start_dashboard.sh" >>"$(log_file dashboard)" 2>&1; then
      touch "$RUN_DIR/stack.dashboard"
      say "dashboard started (./start_dashboard.sh; log .run/dashboard.log)"
    else
      say "warning: ./start_dashboard.sh failed, going on without Prometheus/Grafana; see .run/dashboard.log:"
      tail -n 3 "$(log_file dashboard)" | sed 's/^/  /' >&2
    fi
  fi

  # 2. the proxy with its local models, 3. the exporter (the proxy's --prometheus_metrics_port)
  (
    cd "$ROOT"
    # LiteLLM's bundled cost map: otherwise every start fetches it from GitHub (the network, and
    # costs that change under the version pin).
    export LITELLM_LOCAL_MODEL_COST_MAP=True
    spawn proxy "$LITELLM" --config "$CONFIG" --host 127.0.0.1 --port "$PROXY_PORT" --prometheus_metrics_port "$METRICS_PORT"
  )
  pid="$(cat "$(pid_file proxy)")"
  say "waiting for the proxy on http://127.0.0.1:$PROXY_PORT (LiteLLM takes 10-30 s to start)"
  if ! wait_for_proxy "$pid"; then
    say "the proxy did not come up: stopping what was started"
    down_parts
    die "the proxy did not start; see .run/proxy.log"
  fi
  say "proxy up: http://127.0.0.1:$PROXY_PORT, metrics http://127.0.0.1:$METRICS_PORT/metrics"

  # 4. coherence daemon
  if enabled "${WILTON_STACK_COHERENCE:-1}" && [[ -x "$ROOT/start_coherence_daemon.sh" ]]; then
    WILTON_COHERENCE_USERNAME="$COHERENCE_USER" spawn coherence "$ROOT/start_coherence_daemon.sh" --interval 30 \
      --proxy-url "http://127.0.0.1:$PROXY_PORT" --prometheus-url "http://127.0.0.1:$PROMETHEUS_PORT"
  else
    say "coherence sidecar left out (WILTON_STACK_COHERENCE=0 or no start_coherence_daemon.sh)"
  fi

  # 5. insight
  if enabled "${WILTON_STACK_INSIGHT:-1}" && [[ -x "$ROOT/start_llm_insight.sh" ]]; then
    (
      export WILTON_INSIGHT_USERNAME="$INSIGHT_USER" WILTON_PROXY_URL="http://127.0.0.1:$PROXY_PORT" \
        WILTON_PROMETHEUS_URL="http://127.0.0.1:$PROMETHEUS_PORT"
      if "$INSIGHT_REUSES_COHERENCE"; then  # through the environment: spawn logs its command line
        export WILTON_INSIGHT_PASSWORD="${WILTON_COHERENCE_PASSWORD:-}" \
          WILTON_INSIGHT_PASSWORD_FILE="${WILTON_COHERENCE_PASSWORD_FILE:-}"
        say "the insight sidecar logs in with the coherence sidecar's password (no WILTON_INSIGHT_PASSWORD)"
      fi
      spawn insight "$ROOT/start_llm_insight.sh"
    )
  else
    say "insight sidecar left out (WILTON_STACK_INSIGHT=0 or no start_llm_insight.sh)"
  fi

  sleep 1
  for part in coherence insight; do
    if [[ -f "$(pid_file "$part")" ]] && ! alive_pid "$part" >/dev/null; then
      say "warning: $part exited right after start; see .run/$part.log:"
      tail -n 5 "$(log_file "$part")" | sed 's/^/  /' >&2
    fi
  done
  say "up. \`make status\` shows what runs; \`make down\` stops it all."
}

# Stop one part: SIGTERM to its process group, wait up to 15 s, then SIGKILL.
stop_part() {
  local part="$1" pid _
  if ! pid="$(alive_pid "$part")"; then
    rm -f "$(pid_file "$part")"
    return 0
  fi
  say "stopping $part (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 -- "-$pid" 2>/dev/null; then
    say "$part (pid $pid) did not stop in 15 s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$(pid_file "$part")"
}

down_parts() {
  local i
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
    stop_part "${PARTS[i]}"
  done
  if [[ -f "$RUN_DIR/stack.dashboard" ]]; then
    "$ROOT/start_dashboard.sh" --stop || say "warning: ./start_dashboard.sh --stop failed"
    rm -f "$RUN_DIR/stack.dashboard"
  fi
}

down() {
  load_env
  down_parts
  say "down: nothing started by the stack runs any more"
}

status() {
  load_env
  local part pid any=false
  for part in "${PARTS[@]}"; do
    if pid="$(alive_pid "$part")"; then
      any=true
      printf '%-10s running  pid %-7s log .run/%s.log\n' "$part" "$pid" "$part"
    elif [[ -f "$(pid_file "$part")" ]]; then
      printf '%-10s exited   (stale pid file; see .run/%s.log)\n' "$part" "$part"
    else
      printf '%-10s stopped\n' "$part"
    fi
  done
  if [[ -f "$RUN_DIR/stack.dashboard" ]]; then
    printf '%-10s started by the stack (%s)\n' dashboard "$(cat "$RUN_DIR/dashboard.mode" 2>/dev/null || echo '?')"
  else
    printf '%-10s not started by the stack\n' dashboard
  fi
  if alive_pid proxy >/dev/null; then
    if curl -fsS -o /dev/null "http://127.0.0.1:$PROXY_PORT/health/liveliness" 2>/dev/null; then
      echo "proxy      answers on http://127.0.0.1:$PROXY_PORT (metrics http://127.0.0.1:$METRICS_PORT/metrics)"
    else
      echo "proxy      does not answer on http://127.0.0.1:$PROXY_PORT yet"
    fi
  fi
  "$any" || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  --help | -h | help)
    usage
    ;;
  *)
    usage >&2
    [[ -z "${1:-}" ]] || die "expected up, down or status, not '$1'"
    die "expected up, down or status"
    ;;
esac
