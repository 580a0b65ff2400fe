# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options with community.postgresql's names and meaning, and a psycopg2 connection from them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib  # noqa: F401 (re-exported for modules)

PSYCOPG2_IMP_ERR = None
try:
    import psycopg2
    import psycopg2.extras  # noqa: F401
    HAS_PSYCOPG2 = True
except ImportError:
    PSYCOPG2_IMP_ERR = traceback.format_exc()
    HAS_PSYCOPG2 = False

APPLICATION_NAME = 'soar.partman'

# option name -> libpq keyword
_LIBPQ_KEYWORDS = {
    'login_host': 'host',
    'login_user': 'user',
    'login_password': 'password',
    'login_port': 'port',
    'login_db': 'dbname',
    'ssl_mode': 'sslmode',
    'ca_cert': 'sslrootcert',
    'ssl_cert': 'sslcert',
    'ssl_key': 'sslkey',
}


def connection_argument_spec():
    """The connection options every module of this collection takes (see doc fragment soar.partman.connection)."""
    return dict(
        login_user=dict(type='str', default='postgres', aliases=['login']),
        login_password=dict(type='str', default='', no_log=True),
        login_host=dict(type='str', default='', aliases=['host']),
        login_unix_socket=dict(type='str', default='', aliases=['unix_socket']),
        login_port=dict(type='int', default=5432, aliases=['port']),
        login_db=dict(type='str', default='', aliases=['db', 'database']),
        ssl_mode=dict(type='str', default='prefer',
                      choices=['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']),
        ca_cert=dict(type='str', aliases=['ssl_rootcert']),
        ssl_cert=dict(type='path'),
        ssl_key=dict(type='path', no_log=False),
        connect_params=dict(type='dict', default={}),
    )


def connection_kwargs(params, application_name=APPLICATION_NAME):
    """libpq keywords from module parameters; empty values are left to libpq's defaults."""
    kwargs = {}
    for option, keyword in _LIBPQ_KEYWORDS.items():
        value = params.get(option)
        if value not in (None, ''):
            kwargs[keyword] = value
    # A Unix socket directory is libpq's host when no TCP host is given.
    if params.get('login_unix_socket') and not params.get('login_host'):
        kwargs['host'] = params['login_unix_socket']
    kwargs.setdefault('dbname', 'postgres')
    kwargs.update(params.get('connect_params') or {})
    kwargs.setdefault('application_name', application_name)
    return kwargs


def connect(module, autocommit=False, application_name=APPLICATION_NAME):
    """Connect or fail the module with a message that names the target (never the password)."""
    kwargs = connection_kwargs(module.params, application_name)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as e:
        where = '%s@%s:%s/%s' % (kwargs.get('user', ''), kwargs.get('host', 'default socket'),
                                 kwargs.get('port', 5432), kwargs.get('dbname'))
        module.fail_json(msg='Cannot connect to PostgreSQL as %s: %s' % (where, str(e).strip()))
    conn.autocommit = autocommit
    return conn
