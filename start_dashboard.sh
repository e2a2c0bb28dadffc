#!/usr/bin/env bash
# Start Wilton's dashboard stack: Prometheus and Grafana with the "WiltonOS Quantum Balance"
# dashboard. Run ./start_dashboard.sh --help for the details.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPOSE_FILE="$ROOT/grafana/docker-compose.yml"
COMPOSE_PROJECT="wilton-dashboard"
PROMETHEUS_CONFIG="$ROOT/prometheus/prometheus.yml"
DASHBOARD_JSON="$ROOT/grafana/dashboards/wilton-quantum-balance.json"
RUN_DIR="$ROOT/.run"
PID_FILE="$RUN_DIR/prometheus.pid"
LOG_FILE="$RUN_DIR/prometheus.log"
STORAGE_DIR="$RUN_DIR/prometheus"
MODE_FILE="$RUN_DIR/dashboard.mode" # what the last start started: "compose" or "prometheus"

export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
export GRAFANA_PORT="${GRAFANA_PORT:-3000}"

usage() {
  cat <<EOF
Usage: ./start_dashboard.sh [--local] [--stop] [--help]

Starts Prometheus (scraping the proxy as prometheus/prometheus.yml says, with the Wilton
recording and alert rules) and Grafana, provisioned with that Prometheus and the
"WiltonOS Quantum Balance" dashboard. Everything listens on 127.0.0.1 only.

  - Where Docker runs (\`docker compose version\` works and \`docker info\` reaches an engine):
    docker compose -p $COMPOSE_PROJECT -f grafana/docker-compose.yml up -d
  - Otherwise, if a \`prometheus\` binary is installed: a local Prometheus on
    127.0.0.1:\$PROMETHEUS_PORT (data in .run/prometheus, pid in .run/prometheus.pid, log in
    .run/prometheus.log), and instructions for Grafana, which then needs Docker or a Grafana
    install of your own.

Options:
  --local   start the local Prometheus even where Docker runs
  --stop    stop what the last start started (the compose stack or the local Prometheus)
  --help    show this help

Environment:
  PROMETHEUS_PORT         Prometheus port on 127.0.0.1 (default 9090)
  GRAFANA_PORT            Grafana port on 127.0.0.1 (default 3000; Docker only)
  GRAFANA_ADMIN_USER      Grafana admin user (default admin; Docker only)
  GRAFANA_ADMIN_PASSWORD  Grafana admin password (default "wilton", a development default that
                          is acceptable only because Grafana listens on 127.0.0.1; Grafana
                          applies it when its data volume is first created)

Install what this needs with scripts/install_dashboard_dependencies.sh (Prometheus from
Debian and the dashboard's schema-check tools; it does not install Docker).
EOF
}

say() { printf 'start_dashboard: %s\n' "$*"; }
die() {
  printf 'start_dashboard: error: %s\n' "$*" >&2
  exit 1
}

# The compose command, if Docker's compose plugin (or the standalone docker-compose) works and a
# Docker engine answers; nothing otherwise.
compose_command() {
  command -v docker >/dev/null 2>&1 || return 1
  if docker compose version >/dev/null 2>&1; then
    docker info >/dev/null 2>&1 || return 1
    echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
    docker info >/dev/null 2>&1 || return 1
    echo "docker-compose"
  else
    return 1
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The pid in .run/prometheus.pid if that process is alive and is a prometheus.
running_prometheus_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q prometheus || return 1
  echo "$pid"
}

grafana_by_hand() {
  cat <<EOF

Grafana is NOT running: it needs Docker (with the compose plugin) or a Grafana install of your own.
  - With Docker: install Docker Engine and its compose plugin, then run ./start_dashboard.sh again.
  - With your own Grafana (11.6 or later): add a Prometheus data source with the URL
    http://127.0.0.1:$PROMETHEUS_PORT, then Dashboards > New > Import > "Upload dashboard JSON file":
    $DASHBOARD_JSON
    and pick that data source for the "Data source" variable. (Or copy grafana/provisioning/ into
    Grafana's provisioning folder; see grafana/README.md.)
EOF
}

start_compose() {
  local compose="$1"
  say "starting Prometheus and Grafana with $compose"
  # shellcheck disable=SC2086 # "docker compose" is two words on purpose
  $compose -p "$COMPOSE_PROJECT" -f "$COMPOSE_FILE" up -d
  mkdir -p "$RUN_DIR"
  echo compose >"$MODE_FILE"
  cat <<EOF

Wilton dashboard stack is up (Docker):
  Grafana:     http://127.0.0.1:$GRAFANA_PORT/d/wilton-quantum-balance  (user: ${GRAFANA_ADMIN_USER:-admin})
  Prometheus:  http://127.0.0.1:$PROMETHEUS_PORT
Grafana may take a few seconds before it answers. Stop with ./start_dashboard.sh --stop
EOF
  if [[ -z "${GRAFANA_ADMIN_PASSWORD:-}" ]]; then
    say "GRAFANA_ADMIN_PASSWORD is not set: the development default password applies (loopback only)."
  fi
}

start_local_prometheus() {
  command -v prometheus >/dev/null 2>&1 ||
    die "neither Docker (docker compose + a running engine) nor a prometheus binary is available; run scripts/install_dashboard_dependencies.sh"
  [[ -f "$PROMETHEUS_CONFIG" ]] || die "$PROMETHEUS_CONFIG is missing"
  local pid
  if pid="$(running_prometheus_pid)"; then
    say "Prometheus is already running (pid $pid); stop it with ./start_dashboard.sh --stop"
    grafana_by_hand
    return 0
  fi
  if port_in_use "$PROMETHEUS_PORT"; then
    die "127.0.0.1:$PROMETHEUS_PORT is already in use (Debian's own prometheus service?); choose another port with PROMETHEUS_PORT=9091 ./start_dashboard.sh"
  fi
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "$PROMETHEUS_CONFIG" >/dev/null || die "promtool check config $PROMETHEUS_CONFIG failed"
  fi
  mkdir -p "$STORAGE_DIR"
  say "starting a local Prometheus on 127.0.0.1:$PROMETHEUS_PORT (log: ${LOG_FILE#"$ROOT"/})"
  nohup prometheus \
    --config.file="$PROMETHEUS_CONFIG" \
    --storage.tsdb.path="$STORAGE_DIR" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo prometheus >"$MODE_FILE"
  local _
  for _ in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE" "$MODE_FILE"
      tail -n 20 "$LOG_FILE" >&2 || true
      die "Prometheus exited at start; see $LOG_FILE"
    fi
    if port_in_use "$PROMETHEUS_PORT"; then
      break
    fi
    sleep 0.5
  done
  port_in_use "$PROMETHEUS_PORT" || die "Prometheus (pid $pid) does not answer on 127.0.0.1:$PROMETHEUS_PORT; see $LOG_FILE"
  cat <<EOF

Prometheus is up (no Docker): http://127.0.0.1:$PROMETHEUS_PORT  (pid $pid)
  It scrapes the targets in prometheus/prometheus.yml and evaluates prometheus/wilton.rules.yml.
  Stop it with ./start_dashboard.sh --stop
EOF
  grafana_by_hand
}

stop() {
  local mode=""
  [[ -f "$MODE_FILE" ]] && mode="$(cat "$MODE_FILE")"
  local pid
  if pid="$(running_prometheus_pid)"; then
    say "stopping the local Prometheus (pid $pid)"
    kill "$pid"
    local _
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "Prometheus (pid $pid) did not stop in 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$PID_FILE"
  if [[ "$mode" == compose ]]; then
    local compose
    compose="$(compose_command)" || die "the compose stack was started with Docker, which does not answer now"
    say "stopping the compose stack"
    # shellcheck disable=SC2086 # "docker compose" is two words on purpose
    $compose -p "$COMPOSE_PROJECT" -f "$COMPOSE_FILE" down
  elif [[ -z "$mode" && -z "${pid:-}" ]]; then
    say "nothing to stop: no stack was started from here"
  fi
  rm -f "$MODE_FILE"
}

main() {
  local action=start local_only=false
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --help | -h)
        usage
        return 0
        ;;
      --stop) action=stop ;;
      --local) local_only=true ;;
      *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
  done
  [[ "$PROMETHEUS_PORT" =~ ^[0-9]+$ ]] || die "PROMETHEUS_PORT must be a port number, not '$PROMETHEUS_PORT'"
  [[ "$GRAFANA_PORT" =~ ^[0-9]+$ ]] || die "GRAFANA_PORT must be a port number, not '$GRAFANA_PORT'"
  if [[ "$action" == stop ]]; then
    stop
    return 0
  fi
  local compose
  if ! "$local_only" && compose="$(compose_command)"; then
    start_compose "$compose"
  else
    if ! "$local_only"; then
      say "Docker is not usable here (no \`docker compose\`, or no engine answers \`docker info\`)"
    fi
    start_local_prometheus
  fi
}

main "$@"
