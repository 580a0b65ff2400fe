"""Every case of the suite ran, on both distributions at once.

The suite's time is not asserted (speed is a benchmark's business, not a test's): conftest prints
the seconds per host and phase at the end of the run and leaves them in SECONDS_FILE. Measured:
250 s for the cases on the quiet 2-core machine, 300 s with another scenario beside it.
"""
import cases as C


def test_every_case_ran(obs):
    names = set(obs)
    want = (['bad/' + c[0] for c in C.BAD] + ['unusual/' + c[0] for c in C.UNUSUAL]
            + ['fault/' + c[0] for c in C.FAULTS] + ['role/' + c[0] for c in C.ROLE_CASES] + ['scan']
            + ['%s/%s' % (k, c[0]) for c in C.CONTROLLER_FAULTS for k in ('clone-fault', 'fault', 'after-fault')])
    missing = [n for n in want if n not in names]
    assert not missing, 'no observation for %s; the driver said:\n%s' % (missing, obs.get('__stderr__', '')[-3000:])
