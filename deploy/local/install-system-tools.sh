#!/usr/bin/env bash
# System tools some formats need, installed where this script can (root with apt): LibreOffice
# headless converts legacy .doc/.ppt/.xls (ragway/office.py). Without it those files fail with a
# reason naming what is missing; everything else works. Cheap when already installed.
set -uo pipefail
if command -v soffice >/dev/null || command -v libreoffice >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "LibreOffice is not installed (needs root and apt): legacy .doc/.ppt/.xls files will fail" >&2
  exit 0
fi
packages="libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui"
if ! { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
       --no-install-recommends $packages >/dev/null; }; then
  echo "could not install $packages: legacy .doc/.ppt/.xls files will fail" >&2
fi
exit 0
