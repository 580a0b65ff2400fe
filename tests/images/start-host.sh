#!/usr/bin/env bash
# Start (or keep) a systemd test host from a local image and wait until systemd has booted.
# Usage: tests/images/start-host.sh NAME [SUITE [DOCKER-RUN-OPTION...]]
#   SUITE: bookworm | trixie (default bookworm). A running host of another suite is replaced.
#   SOAR_IMAGE overrides the image (default soar-partman/SUITE:latest).
#   Extra options go to `docker run` (for example --shm-size=2g for the bench host).
set -euo pipefail
name=${1:?usage: start-host.sh NAME [SUITE [DOCKER-RUN-OPTION...]]}
suite=${2:-bookworm}
shift $(( $# < 2 ? $# : 2 ))
image=${SOAR_IMAGE:-soar-partman/$suite:latest}
docker image inspect "$image" >/dev/null 2>&1 || {
  echo "image $image is missing: run 'make images' first" >&2; exit 1; }
current=$(docker inspect -f '{{.Config.Image}}' "$name" 2>/dev/null || true)
running=$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)
if [ "$current" != "$image" ] || [ "$running" != true ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  echo "starting $name (Debian $suite, systemd)"
  # systemd as PID 1 without --privileged: SYS_ADMIN, the host's cgroups, tmpfs for /run.
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 "$@" \
    "$image" >/dev/null
fi
# Right after `docker run` systemd's bus may not exist yet and `--wait` returns at once: poll until
# systemd answers running (or degraded: a unit failed, which the roles do not need), for up to 120 s.
for _ in $(seq 1 120); do
  state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
  case "$state" in running|degraded) exit 0 ;; esac
  sleep 1
done
echo "$name: systemd did not finish booting (state: ${state:-none})" >&2
exit 1
