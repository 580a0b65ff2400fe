# -*- coding: utf-8 -*-
"""Helpers of the unit tests (importable from every test file: tests/unit/conftest.py puts this
directory on sys.path): psycopg2.sql rendered without a connection, a recording stand-in for
connection.Database, and a migration Context built from partman_migrate's argument spec."""

import datetime

UTC = datetime.timezone.utc


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
        """The statements run, rendered."""
        return [t for t, _p in self.statements]


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
