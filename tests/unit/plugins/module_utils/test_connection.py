# -*- coding: utf-8 -*-
"""connection.py: psycopg2.connect() arguments from module parameters."""

from ansible_collections.soar.partman.plugins.module_utils.connection import connection_kwargs


def test_connection_kwargs():
    kw = connection_kwargs({'login_host': '', 'login_unix_socket': '/run/postgresql', 'login_user': 'postgres',
                            'login_password': '', 'login_port': 5432, 'login_db': 'soar', 'ssl_mode': 'prefer',
                            'connect_params': {'connect_timeout': 5}})
    assert kw['host'] == '/run/postgresql' and kw['dbname'] == 'soar' and kw['connect_timeout'] == 5
    assert kw['application_name'] == 'soar.partman' and 'password' not in kw
