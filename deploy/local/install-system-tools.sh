#!/usr/bin/env bash
# System tools, installed where this script can (root with apt); cheap when already installed.
# - LibreOffice headless converts legacy .doc/.ppt/.xls (ragway/office.py). Without it those files
#   fail with a reason naming what is missing; everything else works.
# - Chromium and its driver run the web console's browser tests (tests/integration/test_console.py,
#   which skip without them), with a CJK font so Chinese text renders in their screenshots.
set -uo pipefail
packages=""
if ! command -v soffice >/dev/null && ! command -v libreoffice >/dev/null; then
  packages="$packages libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui"
fi
if ! command -v chromium >/dev/null || [ ! -x /usr/bin/chromedriver ]; then
  packages="$packages chromium chromium-driver"
fi
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null)" ] || ! command -v fc-list >/dev/null; then
  packages="$packages fonts-wqy-zenhei"
fi
[ -z "$packages" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "not installed (needs root and apt):$packages; legacy .doc/.ppt/.xls files fail and the console's" \
       "browser tests are skipped without them" >&2
  exit 0
fi
if ! { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
       --no-install-recommends $packages >/dev/null; }; then
  echo "could not install$packages: legacy .doc/.ppt/.xls files fail and the console's browser tests are skipped" \
       "without them" >&2
fi
exit 0
