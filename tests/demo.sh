#!/usr/bin/env bash
# make demo: start the demo host, load a SOAR-like database, run the runbook against it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=soar-partman-demo
suite=${DEMO_SUITE:-bookworm}
fixes=${DEMO_FIXES:-200000}
days=${DEMO_DAYS:-30}

tests/images/start-host.sh "$name" "$suite"

echo "loading a SOAR-like database: $fixes fixes over $days days"
ansible-playbook -i inventories/demo tests/fixtures/playbooks/soar_database.yml \
  -e "soar_database_fixes=$fixes" -e "soar_database_days=$days"

echo "running playbooks/migrate.yml -i inventories/demo (the soar stand-in keeps writing until the window)"
start=$SECONDS
ansible-playbook -i inventories/demo playbooks/migrate.yml
echo "migrate.yml took $((SECONDS - start))s for $fixes fixes (playbooks/finalize.yml and rollback.yml are the next steps;"
echo "make demo-clean removes the demo host)"
