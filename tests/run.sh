#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then runs pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)
command -v knotd >/dev/null 2>&1 || apt_packages+=(knot)
command -v dovecot >/dev/null 2>&1 || apt_packages+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || apt_packages+=(openssl)
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v Xvfb >/dev/null 2>&1 || apt_packages+=(xvfb)
# The native window (pywebview on GTK/WebKit) for tests/ui/test_native.py.
for pkg in python3-gi python3-gi-cairo gir1.2-gtk-3.0 gir1.2-webkit2-4.1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || apt_packages+=("$pkg")
done
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  else
    echo "tests/run.sh: please install: ${apt_packages[*]}" >&2
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
export MLV_REQUIRE_POSTGRES=1
exec python3 -m pytest -q -p no:cacheprovider "$@"
