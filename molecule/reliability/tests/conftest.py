"""Runs the whole suite once per session, on every host at the same time, and hands the tests the
observations:
  1. in each container (reliability.py, in parallel on the hosts): databases for the controller's
     cases, then every bad input, unusual table and fault;
  2. from the controller: one ansible-playbook with every role case, the secrets cases through
     `ansible -vvv` and `ansible-playbook -vvv`;
  3. in each container again: the fingerprints after the role cases, the secrets scan."""
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import testinfra
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases as C  # noqa: E402  pylint: disable=wrong-import-position
import reliability as rel  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
# where the run's timings are left (controller)
SECONDS_FILE = os.path.join(tempfile.gettempdir(), 'molecule-reliability-seconds.json')


def db_name(kind, name):
    return ('r_%s_%s' % (kind, name)).replace('-', '_')[:60]


def container_cases():
    out = []
    for name, module, args, setup, _expect in C.BAD:
        out.append(dict(kind='bad', name='bad/' + name, db=db_name('b', name), module=module, args=args, setup=setup))
    for name, args, setup, _may in C.UNUSUAL:
        out.append(dict(kind='migrate', name='unusual/' + name, db=db_name('u', name), args=args, setup=setup,
                        info_after=name in C.INFO_AFTER))
    for name, args, setup, ops, _step, _outcome in C.FAULTS:
        out.append(dict(kind='fault', name='fault/' + name, db=db_name('f', name), args=args, setup=setup, ops=ops,
                        where=C.FAULT_WHERE.get(name, 'true')))
    return out


def clone_cases():
    out = []
    for name, _role, _vars, setup, migrate, _expect in C.ROLE_CASES:
        out.append(dict(kind='clone', name='role/' + name, db=db_name('r', name), setup=setup, migrate=migrate))
    for name, setup, _args in C.SECRET_DBS:
        out.append(dict(kind='clone', name='secretdb/' + name, db=name, setup=setup))
    for name, _vars, setup, _lock in C.CONTROLLER_FAULTS:
        out.append(dict(kind='clone', name='clone-fault/' + name, db=db_name('c', name), setup=setup,
                        table='public.fixes', control='received_at'))
    return out


def role_playbook(outdir):
    plays = []
    for name, role, rvars, _setup, _migrate, _expect in C.ROLE_CASES:
        v = dict(rvars)
        v = {k: (x.replace('@DB@', db_name('r', name)) if isinstance(x, str) else x) for k, x in v.items()}
        rec = "{{ reliability_results | default({}) | combine({%r: %s}) }}"
        plays.append({
            'name': 'Role case ' + name,
            'hosts': 'all',
            'gather_facts': False,
            'become': True,
            'tasks': [{
                'name': 'Run the role with the bad value',
                'block': [
                    {'name': 'The role', 'ansible.builtin.include_role': {'name': role}, 'vars': v},
                    {'name': 'Record success', 'ansible.builtin.set_fact': {
                        'reliability_results': rec % (name, "{'failed': false}")}},
                ],
                'rescue': [{'name': 'Record the failure', 'ansible.builtin.set_fact': {
                    'reliability_results': rec % (name, "{'failed': true, 'task': ansible_failed_task.name, "
                                                        "'msg': ansible_failed_result.msg | default('') | string "
                                                        "~ ' ' ~ (ansible_failed_result.results | default([]) "
                                                        "| selectattr('msg', 'defined') | map(attribute='msg') "
                                                        "| join(' ')), "
                                                        "'changed': ansible_failed_result.changed | default(false)}")}}],
            }],
        })
    plays.append({'name': 'Collect', 'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'name': 'Write the results', 'delegate_to': 'localhost',
         'ansible.builtin.copy': {'content': '{{ reliability_results | default({}) | to_json }}',
                                  'dest': outdir + '/{{ inventory_hostname }}.json', 'mode': '0600'}}]})
    plays.extend(C.SECRET_PLAYBOOK)   # last: its failure must show in the recap
    path = os.path.join(outdir, 'roles.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(plays, f, sort_keys=False)
    return path


def run(cmd, **kw):
    t0 = time.time()
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, **kw)
    return {'cmd': ' '.join(cmd), 'rc': p.returncode, 'out': p.stdout, 'err': p.stderr,
            'seconds': round(time.time() - t0, 1)}


class Suite(object):
    def __init__(self, inventory, hosts):
        self.inventory = inventory
        self.hosts = hosts
        self.obs = dict((h, {}) for h in hosts)
        self.seconds = {}
        self.commands = {}
        t0 = time.time()
        for h in hosts:
            rel.upload(h)
        phases = dict((h, rel.Phase(h, clone_cases() + container_cases())) for h in hosts)
        with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:   # each phase's own end
            for h, res in zip(hosts, pool.map(lambda h: phases[h].results(), hosts)):
                self.obs[h].update(res)
                self.seconds[h + ' container'] = phases[h].seconds
        t1 = time.time()
        self.controller()
        self.seconds['controller (ansible)'] = round(time.time() - t1, 1)
        after = [dict(kind='after', name='after/' + n, db=db_name('r', n), table=(v.get('migration_table') or 'public.fixes'))
                 for n, _r, v, _s, _m, _e in C.ROLE_CASES]
        after.extend(dict(kind='after', name='after-fault/' + n, db=db_name('c', n), table='public.fixes',
                          control='received_at') for n, _v, _s, _l in C.CONTROLLER_FAULTS)
        after.append(dict(kind='scan', name='scan', canaries=[C.CANARY, C.CANARY_CP], paths=C.SCAN_PATHS))
        phases = dict((h, rel.Phase(h, after)) for h in hosts)
        for h, p in phases.items():
            self.obs[h].update(p.results())
        self.seconds['total'] = round(time.time() - t0, 1)
        for h in hosts:
            for name, o in sorted(self.obs[h].items()):
                if isinstance(o, dict) and 'seconds' in o:
                    kind = name.split('/')[0]
                    self.seconds['%s %s' % (h, kind)] = round(self.seconds.get('%s %s' % (h, kind), 0) + o['seconds'], 1)

    def controller(self):
        """The controller's commands at once (each works in databases of its own): one playbook with
        every role case and the migration role with a password, at -vvv; `ansible -vvv` per secret case."""
        out = tempfile.mkdtemp(prefix='reliability-')
        cmds = {'playbook': [BIN + '/ansible-playbook', '-vvv', '-i', self.inventory, role_playbook(out)]}
        for name, module, args in C.SECRET_ADHOC:
            cmds[name] = [BIN + '/ansible', '-vvv', '-i', self.inventory, 'all', '-m', module, '-a', json.dumps(args)]
        lost = [(h, c) for h in self.hosts for c in C.CONTROLLER_FAULTS]
        with concurrent.futures.ThreadPoolExecutor(len(cmds) + len(lost)) as pool:
            futures = dict((name, pool.submit(run, cmd)) for name, cmd in cmds.items())
            faults = [(h, c[0], pool.submit(self.connection_lost, h, c, out)) for h, c in lost]
            self.commands = dict((name, f.result()) for name, f in futures.items())
            for h, name, f in faults:
                try:
                    self.obs[h]['fault/' + name] = f.result()
                except Exception as e:  # noqa: BLE001 - reported as the case's observation
                    self.obs[h]['fault/' + name] = {'error': '%s: %s' % (type(e).__name__, e)}
        for name, cmd in self.commands.items():
            self.seconds['controller: ' + name] = cmd['seconds']
        for h in self.hosts:
            path = os.path.join(out, h + '.json')
            self.obs[h]['roles'] = json.load(open(path)) if os.path.exists(path) else {}

    def step(self, host, db, app):
        p = subprocess.run(['docker', 'exec', host, 'python3', rel.CODE + '/reliability.py', 'step', db,
                            'public.fixes', app], check=False, capture_output=True, text=True)
        return json.loads(p.stdout) if p.returncode == 0 else {'state': None, 'running': None, 'error': p.stderr[-500:]}

    def connection_lost(self, host, case, outdir):
        """The migration role from the controller; a test session in the container stops the copy
        with a lock; SIGKILL to the playbook's process group (this playbook, its workers and their
        connections, nothing else) once the module waits for it; the lock released, wait for the
        module on the host, run the role again."""
        t0 = time.time()
        name, rvars, _setup, lock = case
        db = db_name('c', name)
        v = dict((k, x.replace('@DB@', db) if isinstance(x, str) else x) for k, x in rvars.items())
        app = v.get('migration_application_name', 'soar.partman-migrate')
        path = os.path.join(outdir, 'lost-%s-%s.yml' % (name, host))
        with open(path, 'w') as f:
            yaml.safe_dump([{'name': 'The migration role (the controller goes away during the copy)', 'hosts': host,
                             'gather_facts': False, 'become': True,
                             'roles': [{'role': 'soar.partman.migration', 'vars': v}]}], f, sort_keys=False)
        cmd = [BIN + '/ansible-playbook', '-i', self.inventory, path]
        env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
        obs = {'killed': None}
        holder = subprocess.Popen(['docker', 'exec', '-i', host, 'python3', rel.CODE + '/reliability.py', 'hold', db,
                                   'public.fixes', app, lock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        with open(path + '.log', 'w') as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                line = holder.stdout.readline()       # the module waits for the lock (or the holder gave up)
                held = json.loads(line) if line.startswith('{') else {'blocked': False, 'line': line}
                obs['held'] = held
                if held.get('blocked') and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)     # its own group only (start_new_session)
                    obs['killed'] = held
            finally:
                if proc.poll() is None and obs['killed'] is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                _out, err = holder.communicate('release\n', timeout=60)
                obs['holder_err'] = err[-2000:]
        obs['first_rc'] = proc.returncode
        with open(path + '.log') as log:
            obs['first_tail'] = log.read()[-3000:]
        deadline = time.time() + 180      # the module, detached on the host, goes on
        while True:
            now = self.step(host, db, app)
            if not now['running'] or time.time() > deadline:
                break
            time.sleep(0.5)
        obs['after_kill'] = now
        obs['rerun'] = run(cmd)
        obs['seconds'] = round(time.time() - t0, 1)
        return obs


_SUITE = {}


@pytest.fixture(scope='session')
def suite(pytestconfig):
    if 'suite' not in _SUITE:
        inventory = pytestconfig.getoption('ansible_inventory')
        hosts = sorted(h.backend.get_hostname() for h in testinfra.get_hosts(
            [pytestconfig.getoption('hosts') or 'all'], connection='ansible', ansible_inventory=inventory))
        _SUITE['suite'] = Suite(inventory, hosts)
        with open(SECONDS_FILE, 'w') as f:
            json.dump(_SUITE['suite'].seconds, f, indent=1, sort_keys=True)
    return _SUITE['suite']


@pytest.fixture
def obs(host, suite):
    """This host's observations."""
    return suite.obs[host.backend.get_hostname()]


def pytest_terminal_summary(terminalreporter):
    """The suite's seconds per host and phase, for the reader of the CI log (a figure, not a test)."""
    if 'suite' in _SUITE:
        terminalreporter.write_sep('-', 'reliability suite: seconds (also in %s)' % SECONDS_FILE)
        for name, seconds in sorted(_SUITE['suite'].seconds.items()):
            terminalreporter.write_line('%8.1f  %s' % (seconds, name))
