#!/usr/bin/env bash
# Install the Debian packages Qt needs on a bare machine (offscreen tests and a real window),
# dicom3tools for the DICOM SEG conformance test and Orthanc for the PACS tests.
# Only installs what is missing; needs root or sudo. Usage: scripts/system-deps.sh [--gui]
set -euo pipefail
packages=(libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3)
# dciodvfy (dicom3tools) checks the DICOM SEG the export writes against the standard
packages+=(dicom3tools)
# a real DICOM server (Orthanc) that the PACS tests start on loopback
packages+=(orthanc)
packages+=(orthanc-dicomweb)  # its DICOMweb plugin (QIDO/WADO/STOW tests)
if [[ "${1:-}" == "--gui" ]]; then
  # A real window on X11/Xvfb; Qt's own error names the wrong library, QT_DEBUG_PLUGINS=1 tells the truth.
  packages+=(libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
             libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libx11-xcb1 xvfb xauth)
fi
command -v dpkg-query >/dev/null || { echo "not a Debian-like system: install the Qt libraries $(printf '%s ' "${packages[@]}")by hand" >&2; exit 0; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "Installing Debian packages Qt needs: ${missing[*]}"
sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
