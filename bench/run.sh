#!/usr/bin/env bash
# make bench: time four ways of turning the SOAR-like `fixes` table into daily partitions, on one
# PostgreSQL, from the same rows, and the map queries before and after. See README "Benchmark".
#
#   BENCH_ROWS   fixes to generate (default 2000000)
#   BENCH_DAYS   days they span, one partition each (default 35)
#   BENCH_SUITE  bookworm (PostgreSQL 15, pg_partman 4.7) or trixie (PostgreSQL 17, pg_partman 5)
#   BENCH_METHODS  which methods, in order (default "d a b c1 c2"; c1/c2 = the module with jobs 1/2)
#   BENCH_QUERY_RUNS  runs per query, the median is reported (default 11)
#   BENCH_REPEAT   runs of each method, each on a fresh copy; the fastest is reported (default 1)
#   BENCH_HOST     name of the bench container (default soar-partman-bench); SOAR_IMAGE another image
#   BENCH_CLEAN=1  remove the bench container at the end (default: keep it; the loaded template
#                  databases are reused by the next run with the same rows and BENCH_DAYS)
#   BENCH_WINDOW_SIZES  rows of the tables on which the online windows are measured, beside the
#                  offline window (default "2000000 10000000"; "" = none). A size other than
#                  BENCH_ROWS gets its own template database and runs BENCH_WINDOW_OFFLINE there.
#   BENCH_WINDOW_OFFLINE  offline methods at a window size other than BENCH_ROWS (default "d c2")
#   BENCH_WRITER_RATE, BENCH_WRITER_UPDATE_RATE, BENCH_WRITER_DELETE_RATE  the stand-in writer
#                  during the online runs: inserts, updates, deletes per second (600, 50, 5)
#   BENCH_LATENCY_SECONDS  seconds of writer latency measured before the migration and after
#                  prepare (default 120: about 600 transactions; the p99 of 30 s, 141 of them, is their
#                  second worst and swung 64-105 ms between runs)
#   BENCH_ONLINE_JOBS  jobs of the online runs' prepare (default: the role's for online mode, the CPUs
#                  less one, at least 1, at most 4). Another value writes its results under their own
#                  name (-online-jobsN), beside those of the default, and no plot.
#   BENCH_ONLINE_PARAMS  more of partman_migrate's parameters for the online runs, as JSON (e.g.
#                  '{"copy_pause_ratio": 2}'); results under -online-params, no plot.
#
# Results: printed, and written to bench/results/<suite>-<rows>.json; the plot of the windows to
# bench/results/window-<suite>.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

suite=${BENCH_SUITE:-bookworm}
rows=${BENCH_ROWS:-2000000}
days=${BENCH_DAYS:-35}
methods=${BENCH_METHODS:-d a b c1 c2}
query_runs=${BENCH_QUERY_RUNS:-11}
repeat=${BENCH_REPEAT:-1}
window_sizes=${BENCH_WINDOW_SIZES-2000000 10000000}
window_offline=${BENCH_WINDOW_OFFLINE:-d c2}
name=${BENCH_HOST:-soar-partman-bench}
template_db=soar_n${rows}_d${days}
results=$root/bench/results
mkdir -p "$results"
# the role's default for migration_mode online (roles/migration/defaults/main.yml)
cpus=$(nproc)
default_online_jobs=$(( cpus > 5 ? 4 : (cpus > 1 ? cpus - 1 : 1) ))
online_jobs=${BENCH_ONLINE_JOBS:-$default_online_jobs}
variant=
plot=$results/window-$suite.svg
# the plot takes the sizes a run did not measure from earlier default runs: not for a variant
[ "$online_jobs" = "$default_online_jobs" ] || { variant=-online-jobs$online_jobs; plot=; }
online_params=${BENCH_ONLINE_PARAMS:-}
[ -z "$online_params" ] || { variant=$variant-online-params; plot=; }

# The same environment as the Makefile, so that `bench/run.sh` also works on its own.
export PATH=$root/.venv/bin:$PATH
export ANSIBLE_CONFIG=$root/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$root/.collections
export ANSIBLE_ROLES_PATH=$root/tests/fixtures/roles
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
python=$root/.venv/bin/python3
[ -x "$python" ] || { echo "no $python: run 'make venv collection' (or 'make bench') first" >&2; exit 1; }
[ -e "$root/.collections/ansible_collections/soar/partman" ] || {
  echo "the collection link is missing: run 'make collection' first" >&2; exit 1; }

start=$(date +%s)

# A bench host of the wanted suite, systemd as PID 1 (tests/images/start-host.sh). --shm-size:
# PostgreSQL's parallel index builds and parallel vacuum put their shared memory in /dev/shm, which
# Docker limits to 64 MiB by default (too small at 2M rows: "could not resize shared memory segment
# ... No space left on device"); a host started without it is replaced.
shm=$(docker inspect -f '{{.HostConfig.ShmSize}}' "$name" 2>/dev/null || echo 0)
[ "$shm" -ge 2147483648 ] || docker rm -f "$name" >/dev/null 2>&1 || true
tests/images/start-host.sh "$name" "$suite" --shm-size=2g

# One template database per size (BENCH_ROWS and each window size), loaded once and kept.
# shellcheck disable=SC2086  # the sizes are a list of words
for n in $(printf '%s\n' "$rows" $window_sizes | awk '!seen[$0]++'); do
  echo "== provisioning: PostgreSQL, PostGIS, $n fixes over $days days in database soar_n${n}_d${days}, pg_partman, the writer"
  t0=$(date +%s)
  ansible-playbook -i "$name," -c community.docker.docker bench/provision.yml \
    -e ansible_python_interpreter=/usr/bin/python3 \
    -e "bench_template_db=soar_n${n}_d${days}" -e "bench_rows=$n" -e "bench_days=$days" \
    -e "bench_writer_rate=${BENCH_WRITER_RATE:-600}" -e "bench_writer_update_rate=${BENCH_WRITER_UPDATE_RATE:-50}" \
    -e "bench_writer_delete_rate=${BENCH_WRITER_DELETE_RATE:-5}" \
    -e soar_fixture_writer=false >"$results/provision-$suite-$n.log" 2>&1 || {
    tail -40 "$results/provision-$suite-$n.log"; exit 1; }
  echo "   done in $(( $(date +%s) - t0 ))s (log: bench/results/provision-$suite-$n.log)"
done

# The worker half of bench.py runs inside the host as postgres; the module's peak memory is read
# by a python3 wrapper used as the module's interpreter (see bench.py, maxrss_wrapper).
docker cp bench/bench.py "$name:/usr/local/lib/bench.py" >/dev/null
"$python" bench/bench.py install-wrapper --container "$name"

"$python" bench/bench.py run --container "$name" --suite "$suite" --rows "$rows" --days "$days" \
  --template-db "$template_db" --methods "$methods" --query-runs "$query_runs" --repeat "$repeat" \
  --output "$results/$suite-$rows$variant.json" --started "$start" \
  --window-sizes "$window_sizes" --window-offline "$window_offline" --online-jobs "$online_jobs" \
  --online-params "$online_params" \
  --latency-seconds "${BENCH_LATENCY_SECONDS:-120}" --plot "$plot"

if [ "${BENCH_CLEAN:-0}" = 1 ]; then
  docker rm -f "$name" >/dev/null
  echo "removed $name"
else
  echo "bench host $name kept (its template database is reused); remove it with: docker rm -f $name"
fi
echo "make bench took $(( $(date +%s) - start ))s"
