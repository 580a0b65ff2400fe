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
        # no_log: libpq keywords such as password or sslpassword may be given here. The values that
        # are not secret are unmasked again by protect_secrets() once the module runs.
        connect_params=dict(type='dict', default={}, no_log=True),
    )


# Options whose whole value is a secret.
SECRET_OPTIONS = frozenset(('login_password',))

# libpq keywords whose value is not a secret (dbname unless it is a connection string). Every other
# key of connect_params (password, sslpassword, passfile, and any keyword this list does not know)
# is treated as one: masked in the output and left out of public_params().
PUBLIC_CONNECT_KEYWORDS = frozenset((
    'host', 'hostaddr', 'port', 'user', 'dbname', 'connect_timeout', 'client_encoding', 'options',
    'application_name', 'fallback_application_name', 'keepalives', 'keepalives_idle',
    'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'replication', 'gssencmode',
    'sslmode', 'requiressl', 'sslcompression', 'sslcert', 'sslkey', 'sslcertmode', 'sslrootcert',
    'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version',
    'ssl_max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation', 'service',
    'target_session_attrs', 'load_balance_hosts', 'require_auth', 'sslnegotiation', 'channel_binding',
))


def is_conninfo(value):
    """True when libpq would read a dbname value as a connection string (which may hold a
    password) rather than a database name."""
    if not isinstance(value, str):
        return False
    v = value.strip()
    return '=' in v or v.startswith('postgresql://') or v.startswith('postgres://')


def _conninfo_password(value):
    try:
        from psycopg2.extensions import parse_dsn
        return parse_dsn(value).get('password')
    except Exception:
        return None


def public_params(params):
    """The module params without any secret, for storing (state tables) or returning:
    login_password dropped, connect_params reduced to the keywords that are not secret
    (PUBLIC_CONNECT_KEYWORDS; password, sslpassword, passfile and unknown keywords dropped),
    a connection string given as a database name (login_db or connect_params dbname) dropped."""
    out = {}
    for key, value in (params or {}).items():
        if key in SECRET_OPTIONS:
            continue
        if key == 'connect_params':
            value = dict((k, v) for k, v in (value or {}).items()
                         if k in PUBLIC_CONNECT_KEYWORDS and not (k == 'dbname' and is_conninfo(v)))
        elif key == 'login_db' and is_conninfo(value):
            value = None
        out[key] = value
    return out


def secret_values(params):
    """Every secret value the params carry (as text), to mask in the module's output."""
    found = set()
    for key in SECRET_OPTIONS:
        if params.get(key) not in (None, ''):
            found.add(str(params[key]))
    cp = params.get('connect_params') or {}
    for k, v in cp.items():
        if k not in PUBLIC_CONNECT_KEYWORDS and v not in (None, ''):
            found.add(str(v))
    for value in (params.get('login_db'), cp.get('dbname')):
        if is_conninfo(value):
            found.add(value)
            password = _conninfo_password(value)
            if password:
                found.add(password)
    return found


def protect_secrets(module):
    """Call right after AnsibleModule(). connect_params is no_log, so Ansible masks each of its
    values wherever it appears in the output (a connect_timeout of 10 would turn every 10 into
    VALUE_SPECIFIED_IN_NO_LOG_PARAMETER): keep only the secret ones masked. A connection string
    given as the database name is refused, so that its password is neither used nor stored."""
    params = module.params
    secrets = secret_values(params)
    cp = params.get('connect_params') or {}
    for k, v in cp.items():
        if k in PUBLIC_CONNECT_KEYWORDS and v not in (None, '') and str(v) not in secrets:
            module.no_log_values.discard(str(v))
    module.no_log_values.update(secrets)
    for option, value in (('login_db', params.get('login_db')), ('connect_params.dbname', cp.get('dbname'))):
        if is_conninfo(value):
            module.fail_json(msg="%s is a connection string, not a database name: give the database name there, the "
                                 "password in login_password and other libpq keywords in connect_params "
                                 "(nothing was changed)" % option, changed=False)


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


class SessionSettingError(psycopg2.Error if HAS_PSYCOPG2 else Exception):
    """The connection works, but the server refused a session setting (for example an invalid
    maintenance_work_mem). Not a connection problem: the message names the setting."""

    def __init__(self, name, value, error):
        super(SessionSettingError, self).__init__(
            'the server refused the session setting %s = %r: %s' % (name, str(value), str(error).strip()))
        self.name = name
        self.value = value
        self.error = str(error).strip()


# What to do when the server refuses a session setting the modules make from an option.
SETTING_FIXES = {
    'maintenance_work_mem': "set the option maintenance_work_mem (role variable migration_maintenance_work_mem) to a "
                            "size such as '512MB' or '1GB', or leave it empty to keep the server's setting",
    'lock_timeout': 'set the option lock_timeout to a number of seconds (0 or more)',
    'TimeZone': 'the time zone recorded in the state table is not known to this server; set the timezone '
                'of the state row to one in pg_timezone_names',
}


class Database(object):
    """A psycopg2 connection plus the list of queries run through it."""

    def __init__(self, params, queries=None, session_settings=None, autocommit=False):
        self.params = params
        self.kwargs = connection_kwargs(params)
        self.conn = psycopg2.connect(**self.kwargs)
        self.conn.autocommit = autocommit
        self.queries = queries if queries is not None else []
        self.session_settings = session_settings or {}
        try:
            self._apply_settings()
        except SessionSettingError:
            self.close()
            raise

    def _apply_settings(self):
        was = self.conn.autocommit
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            for name, value in self.session_settings.items():
                if value is None:
                    continue
                try:
                    cur.execute('SELECT set_config(%s, %s, false)', (name, str(value)))
                except (psycopg2.OperationalError, psycopg2.InterfaceError):
                    raise  # the connection itself broke
                except psycopg2.Error as e:
                    # invalid_parameter_value (22023), unknown setting (42704): the value, not the connection
                    raise SessionSettingError(name, value, e)
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


def setting_message(module, e):
    """The failure message for a session setting the server refused (connected fine)."""
    return ("Connected to database %s as %s, but %s. This is not a connection problem: %s. Nothing was changed."
            % (module.params.get('login_db') or 'postgres', module.params.get('login_user'), str(e),
               SETTING_FIXES.get(e.name, 'fix the option that sets %s' % e.name)))


def connect(module, session_settings=None, autocommit=False, queries=None):
    """Connect or fail the module with a message naming the problem (nothing is changed before)."""
    protect_secrets(module)
    try:
        return Database(module.params, queries=queries, session_settings=session_settings,
                        autocommit=autocommit)
    except SessionSettingError as e:
        module.fail_json(msg=setting_message(module, e), changed=False)
    except psycopg2.Error as e:
        module.fail_json(msg="Unable to connect to database %s as %s: %s. Check login_host/login_port/"
                             "login_unix_socket, login_user/login_password and pg_hba.conf."
                         % (module.params.get('login_db') or 'postgres', module.params.get('login_user'),
                            str(e).strip()), changed=False)
