#!/usr/bin/env bash
# ansible-test sanity --local on a copy of the collection at $SANITY_DIR/ansible_collections/soar/partman.
# ansible-test bootstraps pip in its test venvs with a get-pip script it downloads; where that
# download cannot work (no route to its host), a stand-in built on ensurepip is saved in its cache.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
python=$venv/bin/python
# Outside the repository: inside it, ansible-test asks git, and git ignores build/.
work=${SANITY_DIR:-${TMPDIR:-/tmp}/soar-partman-sanity}
dest=$work/ansible_collections/soar/partman

test_pkg=$("$python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',*/\1/p" "$test_pkg/_internal/python_requirements.py" | head -1)
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  url="https://ci-files.testing.ansible.com/ansible-test/get-pip-${pip_version}.py"
  if ! "$python" - "$url" "$cache" <<'PY' 2>/dev/null; then
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=15) as r, open(sys.argv[2] + '.download', 'wb') as f:
    f.write(r.read())
import os; os.replace(sys.argv[2] + '.download', sys.argv[2])
PY
    echo "get-pip ${pip_version} could not be downloaded: using the ensurepip stand-in at $cache"
    cat >"$cache" <<'PY'
# Stand-in for get-pip.py (saved by soar.partman tests/sanity.sh when the download failed):
# bootstrap pip from the standard library, then install what ansible-test asked for.
import ensurepip
import subprocess
import sys

ensurepip.bootstrap()
# get-pip's own options; pip install does not know them.
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install',
                          '--cert', '/etc/ssl/certs/ca-certificates.crt'] + args))
PY
  fi
fi

rm -rf "$work"
mkdir -p "$dest"
# Only what git tracks (plus new files not ignored): what a release would contain.
# (git also lists files deleted in the work tree but not yet in the index: skip those.)
cd "$here"
git ls-files -co --exclude-standard -z |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$dest"
cd "$dest"
PATH=$venv/bin:$PATH "$venv/bin/ansible-test" sanity --local --python 3.11 "$@"
