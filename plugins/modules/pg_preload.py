#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_preload
short_description: Add or remove one library in shared_preload_libraries, keeping the others
version_added: "0.1.0"
description:
  - Reads the value of C(shared_preload_libraries) that the configuration files hold (C(pg_file_settings)),
    so a value set but not yet in force is kept too, adds or removes one library and writes the list back
    with C(ALTER SYSTEM). Every other library stays, in its order.
  - Reports RV(restart_required) when the running server does not yet use the configured list, so a
    role restarts PostgreSQL only then; a second run changes nothing and asks for no restart.
  - The library's own settings (for example C(cron.database_name)) are not set here, because PostgreSQL
    refuses C(ALTER SYSTEM) for them until the library is loaded; roles write them to a C(conf.d) file.
author:
  - soar.partman maintainers (@soar)
extends_documentation_fragment:
  - soar.partman.connection
options:
  library:
    description: The library, as written in C(shared_preload_libraries), for example C(pg_cron).
    type: str
    required: true
  state:
    description: Whether the library is preloaded.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
requirements:
  - psycopg2
notes:
  - Needs a superuser connection (C(ALTER SYSTEM), C(pg_file_settings)).
'''

EXAMPLES = r'''
- name: Preload pg_cron, keeping the libraries already there
  become: true
  become_user: postgres
  soar.partman.pg_preload:
    library: pg_cron
  register: preload

- name: Restart PostgreSQL only when needed
  ansible.builtin.systemd_service:
    name: postgresql@15-main
    state: restarted
  when: preload.restart_required
'''

RETURN = r'''
libraries:
  description: The configured list after the change.
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements, pg_cron]
libraries_before:
  description: The configured list before the change.
  returned: always
  type: list
  elements: str
  sample: [pg_stat_statements]
restart_required:
  description: True when the running server does not yet use the configured libraries.
  returned: always
  type: bool
queries:
  description: The statements run.
  returned: always
  type: list
  elements: str
  sample: ["ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', 'pg_cron'"]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.soar.partman.plugins.module_utils.connection import (
    connection_argument_spec, connect, HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR,
)
from ansible_collections.soar.partman.plugins.module_utils.gucs import (
    GucParseError, parse_library_list, configured_value, running_value, set_guc,
)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(
        library=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)

    library = module.params['library'].strip()
    present = module.params['state'] == 'present'

    conn = connect(module, autocommit=True)  # ALTER SYSTEM cannot run in a transaction block
    cur = conn.cursor()
    queries = []

    configured_text = configured_value(cur, 'shared_preload_libraries')
    try:
        before = parse_library_list(configured_text)
        running = parse_library_list(running_value(cur, 'shared_preload_libraries'))
    except GucParseError as e:
        module.fail_json(msg='shared_preload_libraries cannot be parsed (%s). Fix the value in postgresql.conf '
                             'or postgresql.auto.conf, then run again; nothing was changed.' % e)

    if present:
        after = before if library in before else before + [library]
    else:
        after = [lib for lib in before if lib != library]

    changed = after != before
    if changed:
        queries.append(set_guc(cur, 'shared_preload_libraries', after, module.check_mode))

    # What the server runs with now, compared with what it will run with after a restart.
    restart_required = after != running
    conn.close()

    module.exit_json(
        changed=changed,
        libraries=after,
        libraries_before=before,
        restart_required=restart_required,
        queries=queries,
        diff=dict(
            before=dict(shared_preload_libraries=before),
            after=dict(shared_preload_libraries=after),
        ),
    )


if __name__ == '__main__':
    main()
