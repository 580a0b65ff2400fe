#!/usr/bin/env bash
# Start (or keep) a systemd test host from a local image and wait until systemd has booted.
# Usage: tests/images/start-host.sh NAME [SUITE]     (SUITE: bookworm | trixie, default bookworm)
set -euo pipefail
name=${1:?usage: start-host.sh NAME [SUITE]}
suite=${2:-bookworm}
if ! docker ps --format '{{.Names}}' | grep -qx "$name"; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  echo "starting $name (Debian $suite, systemd)"
  # systemd as PID 1 without --privileged: SYS_ADMIN, the host's cgroups, tmpfs for /run.
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 \
    "soar-partman/$suite:latest" >/dev/null
fi
docker exec "$name" systemctl is-system-running --wait >/dev/null 2>&1 || true
