#!/usr/bin/env bash
# Installs the Debian 12 packages a purpose needs, only those missing (quick when all are there).
#   scripts/system-packages.sh build   GStreamer's development files and runtime plugins (the server)
#   scripts/system-packages.sh test    build + the test peers (Chromium, coturn, ffmpeg, an RTSP server)
set -euo pipefail

BUILD=(
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-opencv opencv-data
  tesseract-ocr tesseract-ocr-eng
)
TEST=(
  chromium coturn ffmpeg qrencode gstreamer1.0-tools fonts-dejavu-core iproute2 openssl
  python3-gi python3-pip gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0
)

case ${1:-} in
  build) want=("${BUILD[@]}") ;;
  test) want=("${BUILD[@]}" "${TEST[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: all present"
  exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "missing ${missing[*]} and not root: install them, or run as root" >&2
    exit 1
  fi
fi
echo "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
