#!/usr/bin/env bash
# Install what Wilton's dashboard stack and its checks need. Run with --help for the details.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCHEMA_CHECK="$ROOT/grafana/schema-check"

usage() {
  cat <<'EOF'
Usage: scripts/install_dashboard_dependencies.sh [--help]

Installs what ./start_dashboard.sh and the dashboard's checks need, on Debian or Ubuntu:
  - Debian's `prometheus` package (Prometheus and promtool), with apt, if `prometheus` is missing;
  - Node.js and npm (Debian's `nodejs` and `npm`), with apt, if `npm` is missing;
  - the schema check's node packages (@grafana/schema, TypeScript), exactly as locked in
    grafana/schema-check/package-lock.json (`npm ci`).
apt needs root: the script uses sudo when it is not run as root.

It does NOT install Docker. Grafana runs from grafana/docker-compose.yml, so for Grafana install
Docker Engine and its compose plugin yourself; without Docker, ./start_dashboard.sh starts only
Prometheus and explains how to load the dashboard into a Grafana of your own.

Note: where systemd runs, Debian's package starts its own `prometheus` service on port 9090.
./start_dashboard.sh runs its own Prometheus with the project's config: either stop the
service (sudo systemctl disable --now prometheus) or pick another port (PROMETHEUS_PORT=9091).
EOF
}

say() { printf 'install_dashboard_dependencies: %s\n' "$*"; }
die() {
  printf 'install_dashboard_dependencies: error: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "installing Debian packages needs root (or sudo): $*"
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: install $* with your system's package manager, then run this again"
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

main() {
  case "${1:-}" in
    --help | -h)
      usage
      return 0
      ;;
    "") ;;
    *)
      usage >&2
      die "unknown argument: $1"
      ;;
  esac

  local packages=()
  command -v prometheus >/dev/null 2>&1 || packages+=(prometheus)
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
  if [[ ${#packages[@]} -gt 0 ]]; then
    apt_install "${packages[@]}"
  else
    say "prometheus and npm are already installed"
  fi

  say "installing the dashboard schema check's node packages (npm ci in grafana/schema-check)"
  (cd "$SCHEMA_CHECK" && npm ci --no-audit --no-fund)

  say "done: $(prometheus --version 2>&1 | head -n 1); node $(node --version 2>/dev/null || echo '?')"
  say "Docker is not installed by this script: Grafana needs Docker Engine with the compose plugin (or a Grafana install of your own)."
}

main "$@"
