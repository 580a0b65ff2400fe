#!/usr/bin/env bash
# make demo: start the demo host, load a SOAR-like database, run the runbook against it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=soar-partman-demo
suite=${DEMO_SUITE:-bookworm}
fixes=${DEMO_FIXES:-200000}
days=${DEMO_DAYS:-30}

if ! docker ps --format '{{.Names}}' | grep -qx "$name"; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  echo "starting demo host $name (Debian $suite, systemd)"
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 \
    "soar-partman/$suite:latest" >/dev/null
fi
docker exec "$name" systemctl is-system-running --wait >/dev/null 2>&1 || true

echo "loading a SOAR-like database: $fixes fixes over $days days"
ansible-playbook -i inventories/demo tests/fixtures/playbooks/soar_database.yml \
  -e "soar_database_fixes=$fixes" -e "soar_database_days=$days"

echo "running playbooks/migrate.yml -i inventories/demo"
ansible-playbook -i inventories/demo playbooks/migrate.yml
