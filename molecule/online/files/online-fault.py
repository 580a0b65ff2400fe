"""online-fault FAULT [TIMEOUT]: break a running online migration of public.fixes at one moment.

Started in the background (an async task) before partman_migrate; touches READY once it polls (the
play starts the module only then), waits for its moment, breaks the run and prints one JSON object:
what it did and where the migration stood. Faults:

  kill-copy      kill -9 the module in the middle of the copy (step partitioned, rows committed)
  restart-copy   restart PostgreSQL in the middle of the copy
  kill-catchup   kill -9 the module once the copy and the index builds are over (catch-up, verification)
  kill-window    hold ACCESS SHARE on fixes (writers go on) so that the cut-over waits for its lock,
                 then kill -9 the module while it waits: killed inside the window, before the swap
Runs as root; psql as postgres."""

import json
import subprocess
import sys
import time

FAULT = sys.argv[1]
TIMEOUT = float(sys.argv[2]) if len(sys.argv) > 2 else 240
READY = '/run/online-fault.ready'
# the python3 running the module, not the setup commands naming the same file; [e]: not this pattern
PATTERN = 'python[0-9.]* [^ ]*AnsiballZ_partman_migrat[e]'


def q(sql):
    out = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-d', 'soar', '-c', sql],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def where():
    s = q("SELECT s.step || ' ' || coalesce((SELECT sum(p.rows) FROM partman.partman_migrate_partition p "
          "WHERE p.table_name = s.table_name), 0) FROM partman.partman_migrate_state s "
          "WHERE s.table_name = 'public.fixes'") or '- 0'
    step, rows = s.split()
    return step, int(rows)


def kill_module():
    subprocess.run(['pkill', '-9', '-f', PATTERN], check=False)
    for _i in range(100):
        if subprocess.run(['pgrep', '-f', PATTERN], capture_output=True, check=False).returncode != 0:
            break
        time.sleep(0.1)
    # its sessions end as soon as PostgreSQL notices the closed sockets; do not wait for a long statement
    q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'soar.partman%'")


def module_running():
    return subprocess.run(['pgrep', '-f', PATTERN], capture_output=True, check=False).returncode == 0


def main():
    start = time.time()
    open(READY, 'w').close()
    blocker = None
    if FAULT == 'kill-window':
        blocker = subprocess.Popen(['runuser', '-u', 'postgres', '--', 'psql', '-XAtq', '-d', 'soar'],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        blocker.stdin.write("BEGIN; LOCK TABLE public.fixes IN ACCESS SHARE MODE; SELECT 'locked';\n")
        blocker.stdin.flush()
    seen = False
    report = {'fault': FAULT}
    # a resumed run: break it once it has copied more than the previous run had
    _step, start_rows = where()
    while time.time() - start < TIMEOUT:
        step, rows = where()
        running = module_running()
        seen = seen or running
        if FAULT in ('kill-copy', 'restart-copy') and step == 'partitioned' and rows > start_rows and running:
            if FAULT == 'kill-copy':
                kill_module()
            else:
                subprocess.run(['systemctl', 'restart', 'postgresql'], check=True)
            break
        if FAULT == 'kill-catchup' and step in ('constrained', 'caught_up') and running:
            kill_module()
            break
        if FAULT == 'kill-window':
            waiting = q("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
                        "AND l.mode = 'AccessExclusiveLock' AND l.relation = 'public.fixes'::regclass")
            if waiting and int(waiting) > 0:
                report['window_waiting'] = True
                kill_module()
                break
        if seen and not running:
            report['missed'] = True
            break
        # the resumed copy of the small fixture can be over in half a second (CI run of 2026-11-30 on a
        # quiet machine: restart-copy missed it polling every 50 ms); a poll is a psql and a pgrep
        time.sleep(0.005)
    else:
        report['timeout'] = True
    if blocker is not None:
        blocker.communicate('ROLLBACK;\n\\q\n', timeout=30)
    time.sleep(1)
    step, rows = where()
    report.update(step=step, rows_committed=rows, seconds=round(time.time() - start, 1),
                  relkind=q("SELECT relkind FROM pg_class WHERE oid = 'public.fixes'::regclass"))
    print(json.dumps(report))


if __name__ == '__main__':
    main()
