#!/usr/bin/env bash
# Start wilton-coherence, the sidecar that keeps the global φ on target (sidecars/coherence/).
# Every argument is passed through, e.g. ./start_coherence_daemon.sh --interval 5 --dry-run;
# run ./start_coherence_daemon.sh --help for the flags. Give the password with
# WILTON_COHERENCE_PASSWORD or --password-file rather than --password (the process list shows argv).
set -euo pipefail

# shellcheck source=scripts/lib/sidecar.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib/sidecar.sh"
exec_sidecar start_coherence_daemon sidecars.coherence "$@"
