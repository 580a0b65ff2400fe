#!/usr/bin/env bash
# Runs `molecule test` for each scenario named (all of them when none is), every one even when one
# fails: a failing scenario must not hide the others' results. Each scenario's output goes to the
# terminal and to build/molecule/<scenario>.log. At the end, the failed scenarios are listed with a
# digest of each (its failing tests and their assertion lines): a CI that shows only the end of a
# long log then still shows why every failed scenario failed, not only the last one.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
logs=build/molecule
mkdir -p "$logs"
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for f in molecule/*/molecule.yml; do scenarios+=("$(basename "$(dirname "$f")")"); done
fi

# Hosts an interrupted earlier run left behind go first: a scenario's own destroy removes only its
# hosts, and another's writer would load this run.
stale=$(sed -n 's/^  - name: //p' molecule/*/molecule.yml | while read -r n; do
  docker ps -aq --filter label=owner=molecule --filter "name=^$n\$"; done)
if [ -n "$stale" ]; then
  echo "=== removing hosts left by an earlier run"
  # shellcheck disable=SC2086  # one container id per word
  docker rm -f $stale >/dev/null
fi

failed=()
for s in "${scenarios[@]}"; do
  echo "=== $(date -u +%T) molecule test -s $s"
  start=$SECONDS
  molecule test -s "$s" 2>&1 | tee "$logs/$s.log"
  rc=${PIPESTATUS[0]}
  echo "=== $(date -u +%T) molecule test -s $s: rc=$rc after $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || failed+=("$s")
done

[ ${#failed[@]} -eq 0 ] && exit 0
for s in "${failed[@]}"; do
  echo
  echo "=== digest of the failed scenario $s (whole output: $logs/$s.log)"
  # pytest's headers of failed tests, their assertion lines (E ...), molecule's errors, and Ansible's
  # failures with their indented result (msg, assertion), but not those ignored (a test's deliberate
  # fault) nor retries; long lines cut, at most 160 lines per scenario.
  awk '
    function flush() { if (n && !ignored) for (i = 1; i <= n; i++) print block[i]; n = 0; ignored = 0 }
    /^fatal: / { flush(); n = 1; block[1] = $0; next }
    n && /^\.\.\.ignoring/ { ignored = 1; flush(); next }
    n && /^ / && n < 40 { block[++n] = $0; next }
    n && /^ / { next }
    { flush() }
    /^(_{3,} .* _{3,}|E  |ERROR  |CRITICAL |.*\] FAILED )/ && !/FAILED - RETRYING/ { print }
    END { flush() }' "$logs/$s.log" | cut -c1-400 | head -n 160
done
echo
echo "=== molecule scenarios failed: ${failed[*]}"
exit 1
