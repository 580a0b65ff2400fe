#!/usr/bin/env bash
# Usage: kill-during-copy.sh MIN_ROWS [TIMEOUT]
# Started in the background (an async task) before partman_migrate. Touch READY once it polls (the
# play starts the module only then), wait until the copy has committed more than MIN_ROWS rows,
# kill the module with SIGKILL, wait until its processes and its database sessions are gone, and
# print what the state table says as one JSON object.
# Fails when the copy is over (or the module gone) before it could be killed.
set -euo pipefail
min_rows=${1:?usage: kill-during-copy.sh MIN_ROWS [TIMEOUT]}
timeout=${2:-180}
# The python3 running the module (and the become shell around it), not the short setup commands that
# name the same file (chmod, setfacl). [e]: the pattern does not match a command line containing it.
pattern='python[0-9.]* [^ ]*AnsiballZ_partman_migrat[e]'

q() { runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d soar -c "$1"; }

progress_sql="SELECT s.step || ' ' || coalesce((SELECT sum(p.rows) FROM partman.partman_migrate_partition p
              WHERE p.table_name = s.table_name), 0)
              FROM partman.partman_migrate_state s WHERE s.table_name = 'public.fixes'"

ready=/run/kill-during-copy.ready
start=$SECONDS
seen_module=0
last_seen=0
while :; do
  s=$(q "$progress_sql" 2>/dev/null || true)
  [ -e "$ready" ] || touch "$ready"
  step=${s%% *}
  rows=${s##* }
  if [ "$step" = partitioned ] && [ "${rows:-0}" -gt "$min_rows" ]; then
    break
  fi
  case "$step" in
    '' | prepared | partitioned) ;;
    *) echo "the copy was over (step $step) before it could be killed: make it longer" \
            "(more soar_database_fixes or a smaller migrate_batch_size)" >&2
       exit 1 ;;
  esac
  if pgrep -f "$pattern" >/dev/null; then
    seen_module=1
    last_seen=$SECONDS
  elif { [ "$seen_module" = 1 ] && [ $((SECONDS - last_seen)) -gt 3 ]; } || [ $((SECONDS - start)) -gt 30 ]; then
    echo "partman_migrate is not running (state: ${s:-none}); look at the async job's result" >&2
    exit 1
  fi
  if [ $((SECONDS - start)) -gt "$timeout" ]; then
    echo "timeout waiting for the copy to pass $min_rows rows (state: ${s:-none})" >&2
    exit 1
  fi
  sleep 0.05
done

pids=$(pgrep -d, -f "$pattern" || true)
if [ -z "$pids" ]; then
  echo "partman_migrate ended before it could be killed (state: $s)" >&2
  exit 1
fi
pkill -9 -f "$pattern"

# The module's processes, then its database sessions (an orphaned backend finishes the statement
# it is running, cannot report to its dead client and rolls back).
deadline=$((SECONDS + 60))
while pgrep -f "$pattern" >/dev/null; do
  [ $SECONDS -lt $deadline ] || { echo "partman_migrate survived SIGKILL" >&2; exit 1; }
  sleep 0.1
done
while [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'soar.partman'")" != 0 ]; do
  [ $SECONDS -lt $deadline ] || { echo "sessions of the killed module are still there" >&2; exit 1; }
  sleep 0.1
done

q "SELECT json_build_object(
     'killed_pids', '$pids',
     'rows_seen_before_kill', $rows,
     'step', s.step,
     'rows_committed', (SELECT coalesce(sum(p.rows), 0) FROM partman.partman_migrate_partition p
                        WHERE p.table_name = s.table_name),
     'partitions_done', (SELECT count(*) FROM partman.partman_migrate_partition p
                         WHERE p.table_name = s.table_name AND p.done),
     'partitions', (SELECT count(*) FROM partman.partman_migrate_partition p WHERE p.table_name = s.table_name),
     'rows_in_new_table', (SELECT count(*) FROM public.fixes),
     'rows_total', (SELECT count(*) FROM public.fixes_old))
   FROM partman.partman_migrate_state s WHERE s.table_name = 'public.fixes'"
