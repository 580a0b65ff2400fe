# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Same names and meaning as community.postgresql's connection options.
    DOCUMENTATION = r'''
options:
  login_user:
    description: The database role to connect as.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description: The password of O(login_user); empty means none (peer or C(.pgpass) authentication). Never logged (C(no_log)).
    type: str
    default: ''
  login_host:
    description: Host to connect to; empty means the Unix socket (O(login_unix_socket) or libpq's default).
    type: str
    default: ''
    aliases: [host]
  login_unix_socket:
    description: Directory of the Unix socket, used when O(login_host) is empty.
    type: str
    default: ''
    aliases: [unix_socket]
  login_port:
    description: Database port.
    type: int
    default: 5432
    aliases: [port]
  login_db:
    description: Database to connect to; unset means C(postgres).
    type: str
    aliases: [db, database]
  ssl_mode:
    description: libpq's C(sslmode).
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: A file of certificate authorities (libpq's C(sslrootcert)).
    type: str
    aliases: [ssl_rootcert]
  ssl_cert:
    description: Client certificate file (libpq's C(sslcert)).
    type: path
  ssl_key:
    description: Client key file (libpq's C(sslkey)).
    type: path
  connect_params:
    description:
      - Further libpq connection keywords, for example C(connect_timeout).
      - They win over the options above; C(application_name) defaults to C(soar.partman).
      - The option is C(no_log) - the values of secret keywords (C(password), C(sslpassword), C(passfile), and any
        keyword not known to be harmless) are never logged, returned or stored in a state table; the other
        values are shown in the results.
      - A connection string given as the database name (here as C(dbname), or in O(login_db)) is refused;
        give the password in O(login_password).
    type: dict
    default: {}
'''
