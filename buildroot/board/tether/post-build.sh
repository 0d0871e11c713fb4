#!/bin/sh
# Tether post-build (after Buildroot's own board/raspberrypi*/post-build.sh):
# mount the persistent data partition (p3, made by post-image.sh) on
# /var/lib/tether, where tetherd keeps its bbolt file, so the read-only
# friendly root and a reflashed rootfs keep the counter's session.
set -u
set -e

if ! grep -q '/var/lib/tether' "${TARGET_DIR}/etc/fstab"; then
	printf '/dev/mmcblk0p3\t/var/lib/tether\text4\tdefaults,noatime,nofail\t0\t2\n' \
		>>"${TARGET_DIR}/etc/fstab"
fi
mkdir -p "${TARGET_DIR}/var/lib/tether"
