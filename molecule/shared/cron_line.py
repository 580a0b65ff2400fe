"""Run the job line of a cron.d file the way cron runs it (shared by the molecule scenarios' tests)."""
import re
import shlex


def cron_entry(host, cron_file):
    """(environment, user, command) of the job line of the cron.d file, as cron reads it."""
    env, job = {}, None
    for line in host.file(cron_file).content_string.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
            continue
        fields = line.split(None, 6)
        job = (fields[5], fields[6])
    assert job, "no job line in %s" % cron_file
    return env, job[0], job[1]


def run_cron_line(host, cron_file):
    """Run the job line exactly as cron does: as its user, with /bin/sh -c, a clean environment
    holding HOME/LOGNAME/USER of that user and the variables of the cron file."""
    env, user, command = cron_entry(host, cron_file)
    base = {"HOME": host.user(user).home, "LOGNAME": user, "USER": user, "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}
    base.update(env)
    assignments = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(base.items()))
    return host.run("runuser -u %s -- env -i %s %s -c %s" % (user, assignments, base["SHELL"], shlex.quote(command)))
