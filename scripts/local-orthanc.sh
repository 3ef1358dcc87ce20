#!/usr/bin/env bash
# Start a local Orthanc for Interval's PACS panel, with a generated configuration.
#
#   scripts/local-orthanc.sh [--load-demo] [--folder DIR] [--dicom-port N] [--http-port N]
#                            [--interval-port N]
#
# Loopback only. C-FIND, C-GET and C-MOVE are allowed to one modality, Interval (AE title
# INTERVAL on 127.0.0.1, storage port 11112 for C-MOVE); DICOMweb is on when the plugin is
# installed (Debian package orthanc-dicomweb). --load-demo stores the demo case
# (sample_scans/demo_case/dicom) once the server answers. Stop it with Ctrl+C.
# Needs the Debian package orthanc (scripts/system-deps.sh installs it) and curl for --load-demo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
folder="${XDG_DATA_HOME:-$HOME/.local/share}/Interval/orthanc"
dicom_port=4242
http_port=8042
interval_port=11112
load_demo=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --load-demo) load_demo=1 ;;
    --folder) folder="$2"; shift ;;
    --dicom-port) dicom_port="$2"; shift ;;
    --http-port) http_port="$2"; shift ;;
    --interval-port) interval_port="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "local-orthanc.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

orthanc="$(command -v Orthanc || true)"
if [[ -z "$orthanc" ]]; then
  echo "local-orthanc.sh: Orthanc is not installed (sudo apt-get install orthanc orthanc-dicomweb)" >&2
  exit 1
fi
plugin=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
plugins="[]"
dicomweb='"DicomWeb": {"Enable": false},'
if [[ -f "$plugin" ]]; then
  plugins="[\"$plugin\"]"
  dicomweb='"DicomWeb": {"Enable": true, "Root": "/dicom-web/"},'
fi

mkdir -p "$folder/storage"
cat > "$folder/orthanc.json" <<EOF
{
  "Name": "Interval local Orthanc",
  "StorageDirectory": "$folder/storage",
  "IndexDirectory": "$folder/storage",
  "HttpPort": $http_port,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": true,
  "DicomAet": "ORTHANC",
  "DicomPort": $dicom_port,
  "DicomCheckCalledAet": true,
  "DicomCheckModalityHost": true,
  "DicomAlwaysAllowEcho": false,
  "DicomAlwaysAllowStore": false,
  "DicomAlwaysAllowFind": false,
  "DicomAlwaysAllowGet": false,
  "DicomAlwaysAllowMove": false,
  "DicomModalities": {
    "interval": {"AET": "INTERVAL", "Host": "127.0.0.1", "Port": $interval_port}
  },
  $dicomweb
  "Plugins": $plugins
}
EOF

echo "Orthanc: DICOM ORTHANC@127.0.0.1:$dicom_port, web http://127.0.0.1:$http_port/"
[[ -f "$plugin" ]] && echo "DICOMweb: http://127.0.0.1:$http_port/dicom-web"
echo "Configuration and storage: $folder"
# without TCP_NODELAY every image waits ~40 ms for a delayed acknowledgement
TCP_NODELAY=1 "$orthanc" "$folder/orthanc.json" > "$folder/orthanc.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http_port/system" > /dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "Orthanc stopped; see $folder/orthanc.log" >&2; exit 1; }
  sleep 0.1
done
if [[ "$load_demo" -eq 1 ]]; then
  count=0
  while IFS= read -r -d '' file; do
    curl -fs -X POST --data-binary "@$file" "http://127.0.0.1:$http_port/instances" > /dev/null
    count=$((count + 1))
  done < <(find "$here/sample_scans/demo_case/dicom" -type f -print0)
  echo "Loaded the demo case: $count images."
fi
echo "Running (log: $folder/orthanc.log). Ctrl+C stops it."
wait "$pid"
