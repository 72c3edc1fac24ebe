#!/usr/bin/env bash
# Install the headless browser that tests/test_browser.py drives.
#
# The end-to-end test opens JupyterLab in Debian's own Chromium (/usr/bin/chromium)
# through the Playwright Python package. Playwright's bundled browsers are never
# downloaded (`playwright install` is not used): the kit must work where only the
# Debian archive and PyPI are reachable.
#
# Idempotent: does nothing when /usr/bin/chromium is already there. Runs apt-get
# directly as root, or through sudo otherwise (as on a CI runner).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium) already installed at $CHROMIUM"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_browser: $CHROMIUM is missing and this user can neither run apt-get nor sudo." >&2
    echo "install_browser: ask an administrator to run: apt-get install chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: apt-get not found; install the Debian/Ubuntu package 'chromium' by other means." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# fonts-liberation: readable text in screenshots; chromium pulls in its own libraries.
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-liberation

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM is still missing (on Ubuntu the 'chromium' package is a snap stub;" >&2
    echo "install_browser: use a Debian image or point tests/test_browser.py at another Chromium)." >&2
    exit 1
fi
echo "install_browser: installed $("$CHROMIUM" --version)"
