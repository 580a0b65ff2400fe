# -*- coding: utf-8 -*-
"""Helpers of the unit tests (importable from every test file: tests/unit/conftest.py puts this
directory on sys.path): psycopg2.sql rendered without a connection, a recording stand-in for
connection.Database, a migration Context built from partman_migrate's argument spec, a catalog
snapshot and a state row, and the documentation checks (merged_doc, assert_matches)."""

import datetime

import yaml

UTC = datetime.timezone.utc
# what a statement writing a phase's progress record into the state row holds (state.record_phase)
PHASE_RECORD = "jsonb_build_object('phase'"


def render(composable):
    """Render psycopg2 composables without a connection (identifiers quoted)."""
    from psycopg2 import sql
    if isinstance(composable, str):
        return composable
    if isinstance(composable, sql.Composed):
        return ''.join(render(c) for c in composable.seq)
    if isinstance(composable, sql.SQL):
        return composable.string
    if isinstance(composable, sql.Identifier):
        return '.'.join('"%s"' % s.replace('"', '""') for s in composable.strings)
    if isinstance(composable, sql.Literal):
        return repr(composable.wrapped)
    raise TypeError(composable)


class FakeDb(object):
    """Records what a step runs; answers reads from `answers`: a list of (needle, value) where the
    first needle found in the rendered query wins (value: a callable of the params, or the value).
    scalar() answers value, query() and execute() rows; anything unanswered gives None / []."""

    def __init__(self, answers=None):
        self.answers = list(answers or [])
        self.statements = []     # (rendered text, params) of execute()
        self.reads = []          # rendered text of scalar() and query()
        self.events = []         # statements, COMMIT and ROLLBACK in order
        self.last_rowcount = 0
        self.session_settings = {}
        self.autocommit = False

    def _answer(self, text, params, default):
        for needle, value in self.answers:
            if needle in text:
                return value(params) if callable(value) else value
        return default

    def execute(self, query, params=None, record=True):
        text = render(query)
        self.statements.append((text, params))
        self.events.append(text)
        return self._answer(text, params, None)

    def scalar(self, query, params=None):
        text = render(query)
        self.reads.append(text)
        return self._answer(text, params, None)

    def query(self, query, params=None):
        text = render(query)
        self.reads.append(text)
        return self._answer(text, params, [])

    def commit(self):
        self.events.append('COMMIT')

    def rollback(self):
        self.events.append('ROLLBACK')

    def set_autocommit(self, value):
        self.autocommit = value

    def clone(self, autocommit=False):
        return self

    def close(self):
        pass

    def texts(self):
        """The statements run, rendered, without the progress records (progress_records)."""
        return [t for t, _p in self.statements if PHASE_RECORD not in t]

    def progress_records(self):
        """The phase progress records written into the state row (state.record_phase), in order."""
        import json
        return [json.loads(p[0]) for t, p in self.statements if PHASE_RECORD in t]


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.logged = []

    def log(self, msg):
        self.logged.append(msg)


def migration_params(**over):
    """partman_migrate's parameters with their defaults, for public.fixes on received_at."""
    from ansible_collections.soar.partman.plugins.modules import partman_migrate
    params = dict((k, v.get('default')) for k, v in partman_migrate.argument_spec().items())
    params.update(table='public.fixes', control='received_at')
    params.update(over)
    return params


def make_ctx(db=None, major=5, server_version=160000, check_mode=False, **params):
    """A migration Context on db (a FakeDb), as the runner leaves it once connected."""
    from ansible_collections.soar.partman.plugins.module_utils.migration.context import Context
    ctx = Context(FakeModule(migration_params(**params), check_mode))
    ctx.db = db if db is not None else FakeDb()
    ctx.major = major
    ctx.partman_version = '%d.0.0' % major
    ctx.server_version = server_version
    return ctx


def snapshot(**over):
    """A catalog snapshot of public.fixes as preflight records it in the state table."""
    snap = {
        'table': {'oid': 16400, 'schema': 'public', 'name': 'fixes', 'owner': 'soar', 'comment': 'GPS fixes',
                  'tablespace': None, 'reltuples': 3000, 'relpages': 30, 'table_bytes': 10 << 20,
                  'index_bytes': 5 << 20},
        'columns': [
            {'name': 'id', 'type': 'bigint', 'generated': '', 'identity': '', 'notnull': True},
            {'name': 'received_at', 'type': 'timestamp with time zone', 'generated': '', 'identity': '',
             'notnull': True},
            {'name': 'seq', 'type': 'integer', 'generated': '', 'identity': 'a', 'notnull': True},
            {'name': 'location', 'type': 'text', 'generated': 's', 'identity': '', 'notnull': False},
        ],
        'constraints': [
            {'type': 'p', 'name': 'fixes_pkey', 'def': 'PRIMARY KEY (id)', 'columns': ['id'],
             'index_name': 'fixes_pkey', 'comment': 'the key', 'references': None},
            {'type': 'f', 'name': 'fixes_aircraft_fkey', 'def': 'FOREIGN KEY (aircraft_id) REFERENCES aircraft(id)',
             'columns': ['aircraft_id'], 'index_name': None, 'comment': None, 'references': 'aircraft',
             'validated': True},
            {'type': 'f', 'name': 'fixes_prev_fkey', 'def': 'FOREIGN KEY (prev_id, prev_at) REFERENCES fixes(id, received_at)',
             'columns': ['prev_id', 'prev_at'], 'index_name': None, 'comment': None, 'references': 'fixes',
             'validated': True},
        ],
        'indexes': [
            {'name': 'fixes_pkey', 'constraint': 'fixes_pkey', 'unique': True, 'columns': ['id'],
             'tail': ' USING btree (id)', 'has_expressions': False},
            {'name': 'fixes_received_at_idx', 'constraint': None, 'unique': False, 'columns': ['received_at'],
             'tail': ' USING btree (received_at)', 'has_expressions': False, 'comment': None},
            {'name': 'fixes_dev_seq', 'constraint': None, 'unique': True, 'columns': ['seq'],
             'tail': ' USING btree (seq) WHERE (seq > 0)', 'has_expressions': False, 'comment': '100% unique'},
        ],
        'inbound_fks': [
            {'name': 'notes_fix_fkey', 'schema': 'public', 'tablename': 'notes', 'table': 'public.notes',
             'def': 'FOREIGN KEY (fix_id, fix_at) REFERENCES fixes(id, received_at)',
             'referenced_columns': ['id', 'received_at'], 'repoint': True},
            {'name': 'tags_fix_fkey', 'schema': 'public', 'tablename': 'tags', 'table': 'public.tags',
             'def': 'FOREIGN KEY (fix_id) REFERENCES fixes(id)', 'referenced_columns': ['id'], 'repoint': False},
        ],
        'triggers': [
            {'name': 't_on', 'def': 'CREATE TRIGGER t_on BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()',
             'enabled': 'O'},
            {'name': 't_off', 'def': 'CREATE TRIGGER t_off BEFORE INSERT ON public.fixes FOR EACH ROW EXECUTE FUNCTION f()',
             'enabled': 'D'},
            {'name': 't_always', 'def': 'CREATE TRIGGER t_always AFTER INSERT ON public.fixes FOR EACH ROW '
             'EXECUTE FUNCTION f()', 'enabled': 'A'},
            {'name': 't_replica', 'def': 'CREATE TRIGGER t_replica AFTER INSERT ON public.fixes FOR EACH ROW '
             'EXECUTE FUNCTION f()', 'enabled': 'R'},
        ],
        'sequences': [
            {'sequence': 'public.fixes_id_seq', 'column': 'id', 'deptype': 'a'},
            {'sequence': 'public.fixes_seq_seq', 'column': 'seq', 'deptype': 'i'},
        ],
        'views': [], 'policies': [], 'publications': [],
        'copy_method': 'range', 'control_index': 'fixes_received_at_idx',
        'control_type': 'timestamp with time zone',
        'buckets': ['2024-01-01T00:00:00+00:00', '2024-01-02T00:00:00+00:00'],
        'bucket_counts': {'2024-01-01T00:00:00+00:00': 1000, '2024-01-02T00:00:00+00:00': 2000},
        'start_partition': '2024-01-02T00:00:00+00:00',
    }
    snap.update(over)
    return snap


def state_row(snap=None, **over):
    """A row of partman_migrate_state."""
    row = {'table_name': 'public.fixes', 'old_table': 'public.fixes_old', 'step': 'prepared',
           'direction': 'forward', 'snapshot': snap or snapshot(), 'extra': {'index_renames': {}}, 'timezone': 'UTC',
           'copy_method': 'range', 'ctid_blocks': None, 'ctid_done': 0, 'rows_total': None, 'rows_copied': 0,
           'seconds': {}}
    row.update(over)
    return row


# ------------------------------------------------------------------ documentation against argument specs
def _fragments():
    from ansible_collections.soar.partman.plugins.doc_fragments import connection, maintenance_evidence
    return {'soar.partman.connection': connection.ModuleDocFragment,
            'soar.partman.maintenance_evidence': maintenance_evidence.ModuleDocFragment}


def merged_doc(module):
    """DOCUMENTATION with its fragments' options merged; the module's own keys win, as in ansible-doc."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    for name in doc.get('extends_documentation_fragment') or []:
        fragment = yaml.safe_load(_fragments()[name].DOCUMENTATION)
        for opt, value in fragment['options'].items():
            value.update(doc.setdefault('options', {}).get(opt) or {})
            doc['options'][opt] = value
    return doc


def assert_matches(options, spec):
    assert set(options) == set(spec)
    for name, opt in spec.items():
        d = options[name]
        assert d.get('type', 'str') == opt.get('type', 'str'), name
        assert d.get('default') == opt.get('default'), name
        assert sorted(d.get('choices') or []) == sorted(opt.get('choices') or []), name
        assert sorted(d.get('aliases') or []) == sorted(opt.get('aliases') or []), name
        if opt.get('no_log'):
            assert 'no_log' in str(d['description']), name
