#!/bin/sh
# Installs the system tools the tests need and PyPI does not ship:
# promtool and the prometheus server (Debian package `prometheus`), and a
# headless browser that renders the backtest's HTML report (Debian package
# `chromium`).
#
# Idempotent: installs only the packages whose commands are not on PATH yet,
# and does nothing when all are there. Only installs when run as root on a
# Debian-like system; otherwise it says what to install and exits 0, so
# `make test` still runs (the tests that need a missing tool then fail with
# its name in the message).
#
# The Debian package would start a prometheus daemon on :9090 from its
# maintainer scripts. We only want the binaries, so while installing we put a
# policy-rc.d in place that denies every service start (invoke-rc.d honours
# it), and remove it again if it was ours.
set -eu

missing=""
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    missing="prometheus"
fi
if ! command -v chromium >/dev/null 2>&1; then
    missing="$missing chromium"
fi
if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: not found: $missing; install these packages (Debian/Ubuntu)" \
        "or their binaries onto PATH (promtool and prometheus; chromium)" >&2
    exit 0
fi

policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# salespulse install-system-deps: no service starts while installing\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null

case "$missing" in
*prometheus*)
    # Belt and braces: if an init system started the daemon anyway, stop and disable it.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
    command -v promtool >/dev/null
    echo "install-system-deps: installed $(promtool --version 2>&1 | head -n 1)" >&2
    ;;
esac
case "$missing" in
*chromium*)
    command -v chromium >/dev/null
    echo "install-system-deps: installed $(chromium --version 2>/dev/null | head -n 1)" >&2
    ;;
esac
