#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the browser test (Playwright drives the system browser; it never
# downloads one). Prints the browser's path on stdout; exits non-zero with a message when it cannot be had.
set -euo pipefail
find_browser() { command -v chromium || command -v chromium-browser || true; }
browser="$(find_browser)"
if [ -z "$browser" ]; then
  if [ "$(id -u)" != "0" ] && ! command -v sudo >/dev/null; then
    echo "chromium is not installed and this user cannot run apt-get: install the Debian package 'chromium'" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
  echo "installing chromium with apt-get (once)…" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >&2
  browser="$(find_browser)"
fi
if [ -z "$browser" ]; then
  echo "chromium could not be installed (apt-get install chromium)" >&2
  exit 1
fi
echo "$browser"
