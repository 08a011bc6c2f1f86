#!/usr/bin/env bash
# Installs the CJK font insight uses for chart labels and PDF reports (TrueType outlines, which reportlab can
# embed): Debian's fonts-wqy-microhei. Idempotent; called by `make setup` and the Dockerfile.
# Another TrueType CJK font can be used instead with QHWY_INSIGHT_FONT_FILE=/path/to/font.ttf.
set -euo pipefail

FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc

if [[ -n "${QHWY_INSIGHT_FONT_FILE:-}" && -f "${QHWY_INSIGHT_FONT_FILE}" ]]; then
  echo "fonts: using ${QHWY_INSIGHT_FONT_FILE}"
  exit 0
fi
if [[ -f "$FONT" ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "fonts: $FONT missing and no apt-get here; install a CJK TrueType font and set QHWY_INSIGHT_FONT_FILE" >&2
  exit 1
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  SUDO=sudo
fi
echo "fonts: installing fonts-wqy-microhei (CJK font for charts and PDF reports)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null
test -f "$FONT"
