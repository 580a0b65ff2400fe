#!/usr/bin/env bash
# make demo: start the demo host, load a SOAR-like database, run the runbook against it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=soar-partman-demo
suite=${DEMO_SUITE:-bookworm}
fixes=${DEMO_FIXES:-200000}
days=${DEMO_DAYS:-30}

tests/images/start-host.sh "$name" "$suite"

# What the demo database holds now: "rows relkind" of public.fixes, or nothing on a new host.
fixes_now() {
  docker exec "$name" su postgres -c \
    "psql -X -At -F ' ' -d soar -c \"SELECT (SELECT count(*) FROM public.fixes), relkind FROM pg_class WHERE oid = 'public.fixes'::regclass\"" \
    2>/dev/null || true
}
before=$(fixes_now)
if [ -n "$before" ]; then
  echo "the demo host exists already: its database is reused as it is (public.fixes: ${before% *} rows$(
    [ "${before#* }" = p ] && echo ', partitioned already'))."
  echo "DEMO_FIXES and DEMO_DAYS apply to a new demo host: run 'make demo-clean' first to reload."
else
  echo "loading a SOAR-like database: $fixes fixes over $days days"
fi
ansible-playbook -i inventories/demo tests/fixtures/playbooks/soar_database.yml \
  -e "soar_database_fixes=$fixes" -e "soar_database_days=$days"

echo "running playbooks/migrate.yml -i inventories/demo (the soar stand-in keeps writing until the window)"
start=$SECONDS
ansible-playbook -i inventories/demo playbooks/migrate.yml
after=$(fixes_now)
echo "migrate.yml took $((SECONDS - start))s; public.fixes now holds ${after% *} rows$(
  [ "${before#* }" = p ] && echo ' (it was partitioned before this run: nothing was migrated)')."
echo "Next: playbooks/verify.yml, finalize.yml or rollback.yml (README, Runbook); make demo-clean removes the demo host."
