"""Helpers of the health scenario: psql, the metrics file, promtool tests built from produced metrics."""
import base64
import json
import os
import shlex
import subprocess
import time

import testinfra
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TEXTFILE = "/var/lib/prometheus/node-exporter/soar_partman.prom"
RULES = "/var/tmp/soar-partman-alerts.yml"
MAINTENANCE_TIMER = "soar-partman-maintenance.timer"
HEALTH_TIMER = "soar-partman-health.timer"
# Takes, as the stand-in's role, every connection PostgreSQL does not reserve, holds them, and takes any
# slot that frees up (a superuser's session may have used a slot not reserved), as a pool would.
HOG = """
import time, psycopg2
conns = []
said = None
while True:
    try:
        conns.append(psycopg2.connect(host='127.0.0.1', dbname='soar', user='soar', password='soar',
                                      application_name='soar-run'))
    except psycopg2.OperationalError as e:
        if said != len(conns):
            print('holding %d connections: %s' % (len(conns), str(e).strip()), flush=True)
            said = len(conns)
        time.sleep(0.2)
"""

# Shared between the test files (they run in file order).
STATE = {}
ALERTS = yaml.safe_load(open(os.path.join(ROOT, "roles", "partman_health", "files", "alerts.yml")))
RULE_ANNOTATIONS = dict((r["alert"], r["annotations"]) for g in ALERTS["groups"] for r in g["rules"])
RULE_LABELS = dict((r["alert"], r.get("labels", {})) for g in ALERTS["groups"] for r in g["rules"])


def get_hosts():
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    found = testinfra.get_hosts(["all"], connection="ansible", ansible_inventory=inventory)
    return dict((h.backend.get_hostname(), h) for h in found)


def psql(host, sql, db="soar"):
    cmd = host.run("su postgres -c %s", "psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s" % (db, shlex.quote(sql)))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout.strip()


def metrics(host):
    """{(name, frozenset(labels)): value} and the raw text of the textfile."""
    text = host.file(TEXTFILE).content_string
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, rest = (series.split("{", 1) + [""])[:2]
        labels = {}
        if rest:
            for part in rest.rstrip("}").split('",'):
                k, v = part.split('="', 1)
                labels[k] = v.rstrip('"')
        out[(name, frozenset(labels.items()))] = float(value)
    return out, text


def value(found, name, **labels):
    want = set(labels.items())
    hits = [v for (n, ls), v in found.items() if n == name and want <= set(ls)]
    assert len(hits) == 1, "%s %s: %r" % (name, labels, hits)
    return hits[0]


def wait_metrics(host, predicate, after, timeout):
    """The first metrics written after `after` (Unix time) for which predicate holds, or fail."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            found, text = metrics(host)
        except Exception:  # noqa: BLE001  (rename in progress: never, but a missing file at first)
            time.sleep(2)
            continue
        last = text
        if value(found, "soar_partman_health_check_timestamp_seconds") > after and predicate(found):
            return found, text
        time.sleep(3)
    raise AssertionError("no metrics as expected within %ss; last:\n%s" % (timeout, last))


def promtool_test(host, text, instance, evals, minutes, age_growth=False, stale=False):
    """Build a promtool rule test from the metrics `text` the check wrote: every sample becomes a series
    (instance and job added as a scrape would) held for `minutes`; with age_growth the maintenance age grows
    60 s a minute (no run succeeds: the simulated days), the check's timestamp follows the clock unless `stale`.
    evals: [(eval minutes, {alertname: [extra labels of each expected alert]})]. Runs promtool on the host."""
    series = []
    stamp0 = None
    for line in text.splitlines():
        if line.startswith("soar_partman_health_check_timestamp_seconds "):
            stamp0 = float(line.rsplit(" ", 1)[1])
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, val = line.rsplit(" ", 1)
        name = name_labels.split("{")[0]
        inner = name_labels[len(name):].strip("{}")
        labels = (inner + "," if inner else "") + 'instance="%s",job="node"' % instance
        v = float(val)
        if name == "soar_partman_health_check_timestamp_seconds":
            # Test time starts at 0: the check's clock is rebased to it.
            values = "0x%d" % minutes if stale else "0+60x%d" % minutes
        elif name == "soar_partman_maintenance_age_seconds" and age_growth:
            values = "%s+60x%d" % (repr(v), minutes)
        else:
            values = "%sx%d" % (repr(v), minutes)
        series.append({"series": "%s{%s}" % (name, labels), "values": values})
    assert stamp0 is not None
    tests = []
    for at, expected in evals:
        for alert in RULE_ANNOTATIONS:
            exp = []
            for labels in expected.get(alert, []):
                full = dict(labels, instance=instance, job="node", **RULE_LABELS[alert])
                annotations = {}
                for k, tmpl in RULE_ANNOTATIONS[alert].items():
                    for lk, lv in full.items():
                        tmpl = tmpl.replace("{{ $labels.%s }}" % lk, lv)
                    annotations[k] = tmpl
                exp.append({"exp_labels": full, "exp_annotations": annotations})
            tests.append({"eval_time": "%dm" % at, "alertname": alert, "exp_alerts": exp})
    doc = {"rule_files": [RULES], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": tests}]}
    path = "/var/tmp/soar-partman-alerts-test.yml"
    content = json.dumps(doc)  # JSON is YAML
    encoded = base64.b64encode(content.encode()).decode()
    return host.run("echo %s | base64 -d > %s && promtool test rules %s", encoded, path, path)


def play(playbook, extra=None, check=True):
    env = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    args = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook]
    if extra:
        args += ["-e", json.dumps(extra)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc
