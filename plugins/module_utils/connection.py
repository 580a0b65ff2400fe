# -*- coding: utf-8 -*-
# Copyright: soar.partman contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options (same names and meaning as community.postgresql),
psycopg2 connection set-up and a recorder for the SQL that was run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib  # noqa: F401 pylint: disable=unused-import

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extras  # noqa: F401
    from psycopg2 import sql  # noqa: F401 pylint: disable=unused-import
    HAS_PSYCOPG2 = True
except ImportError:
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

# Name used by other modules of the collection.
PSYCOPG2_IMP_ERR = PSYCOPG2_IMPORT_ERROR

APPLICATION_NAME = 'soar.partman'


def connection_argument_spec():
    """Argument spec of the connection options, as in community.postgresql."""
    return dict(
        login_host=dict(type='str', default='', aliases=['host']),
        login_user=dict(type='str', default='postgres', aliases=['login']),
        login_password=dict(type='str', default='', no_log=True),
        login_port=dict(type='int', default=5432, aliases=['port']),
        login_unix_socket=dict(type='str', default='', aliases=['unix_socket']),
        login_db=dict(type='str', aliases=['db', 'database']),
        ssl_mode=dict(type='str', default='prefer',
                      choices=['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='str', aliases=['ssl_rootcert']),
        ssl_cert=dict(type='path'),
        ssl_key=dict(type='path'),
        connect_params=dict(type='dict', default={}),
    )


def connection_kwargs(params):
    """psycopg2.connect() keyword arguments from module params."""
    kw = {}
    mapping = (
        ('login_host', 'host'), ('login_user', 'user'), ('login_password', 'password'),
        ('login_port', 'port'), ('login_db', 'dbname'), ('ssl_mode', 'sslmode'),
        ('ca_cert', 'sslrootcert'), ('ssl_cert', 'sslcert'), ('ssl_key', 'sslkey'),
    )
    for param, key in mapping:
        value = params.get(param)
        if value not in (None, ''):
            kw[key] = value
    # A unix socket directory wins over an empty host, as in community.postgresql.
    if params.get('login_unix_socket') and not params.get('login_host'):
        kw['host'] = params['login_unix_socket']
    if params.get('login_host') in ('', None) and not params.get('login_unix_socket'):
        kw.pop('host', None)
    for k, v in (params.get('connect_params') or {}).items():
        kw[k] = v
    kw.setdefault('application_name', APPLICATION_NAME)
    if 'dbname' not in kw:
        kw['dbname'] = 'postgres'
    return kw


class Database(object):
    """A psycopg2 connection plus the list of queries run through it."""

    def __init__(self, params, queries=None, session_settings=None, autocommit=False):
        self.params = params
        self.kwargs = connection_kwargs(params)
        self.conn = psycopg2.connect(**self.kwargs)
        self.conn.autocommit = autocommit
        self.queries = queries if queries is not None else []
        self.session_settings = session_settings or {}
        self._apply_settings()

    def _apply_settings(self):
        was = self.conn.autocommit
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            for name, value in self.session_settings.items():
                if value is None:
                    continue
                cur.execute('SELECT set_config(%s, %s, false)', (name, str(value)))
        self.conn.autocommit = was

    def clone(self, autocommit=False):
        """Another connection with the same options and session settings."""
        return Database(self.params, self.queries, self.session_settings, autocommit)

    def cursor(self):
        return self.conn.cursor()

    def mogrify(self, query, params=None):
        with self.conn.cursor() as cur:
            text = cur.mogrify(query, params)
        if isinstance(text, bytes):
            text = text.decode('utf-8', 'replace')
        return text

    def execute(self, query, params=None, record=True):
        """Run one statement; returns the cursor's rows (or None)."""
        with self.conn.cursor() as cur:
            if record:
                self.queries.append(self.mogrify(query, params))
            cur.execute(query, params)
            self.last_rowcount = cur.rowcount
            if cur.description is not None:
                return cur.fetchall()
            return None

    def query(self, query, params=None):
        """Read-only query, not recorded; list of dicts."""
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, params)
            return [dict(r) for r in cur.fetchall()]

    def scalar(self, query, params=None):
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            row = cur.fetchone()
            return row[0] if row else None

    def commit(self):
        self.conn.commit()

    def rollback(self):
        self.conn.rollback()

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass

    def set_autocommit(self, value):
        self.conn.autocommit = value


def connect(module, session_settings=None, autocommit=False, queries=None):
    """Connect or fail the module with a message naming the problem."""
    try:
        return Database(module.params, queries=queries, session_settings=session_settings,
                        autocommit=autocommit)
    except psycopg2.Error as e:
        module.fail_json(msg="Unable to connect to database %s as %s: %s. Check login_host/login_port/"
                             "login_unix_socket, login_user/login_password and pg_hba.conf."
                         % (module.params.get('login_db') or 'postgres', module.params.get('login_user'),
                            str(e).strip()))
