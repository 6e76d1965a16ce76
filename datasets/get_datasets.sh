#!/usr/bin/env bash
# Download the exercise's COCO captioning data (about 1 GB zipped) into
# datasets/coco_captioning, the folder load_coco_data() reads by default.
# Not needed for the built-in dataset, and never run by the tests.
set -euo pipefail
cd "$(dirname "$0")"
URL="${COCO_CAPTIONING_URL:-http://cs231n.stanford.edu/coco_captioning.zip}"
if [ -f coco_captioning/coco2014_captions.h5 ]; then
    echo "coco_captioning is already here"
    exit 0
fi
work="$(mktemp -d coco_download.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "downloading $URL"
if command -v curl >/dev/null; then
    curl -fL --retry 3 -o "$work/coco_captioning.zip" "$URL"
else
    wget -O "$work/coco_captioning.zip" "$URL"
fi
unzip -q "$work/coco_captioning.zip" -d "$work"
# move into place only once everything is unpacked: no half-made folder
mv "$work/coco_captioning" coco_captioning
echo "done: $(pwd)/coco_captioning"
