#!/bin/busybox sh
# Guest /init of the emulated-board rig (board/rig). It prints the markers
# board/rig/console.go parses:
#   RIG-INIT arch=... kernel=... cpus=...   once, when userland starts
#   RIG-BEGIN pkg=NAME                      before each test binary
#   RIG-RESULT pkg=NAME exit=N              after it, with its exit status
#   RIG-DONE                                when every binary has run
# and then reboots; qemu runs with -no-reboot, so the reboot ends it.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox mount -t tmpfs tmpfs /run
/bin/busybox mount -t configfs configfs /sys/kernel/config
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
/bin/busybox --install -s
# iproute2's ip and tc in /usr/sbin shadow busybox's applets, which can do
# neither netns nor netem.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp TETHER_RIG_GUEST=1
hostname rig
ip link set lo up
echo 4 > /proc/sys/kernel/printk
echo "RIG-INIT arch=$(uname -m) kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

set -- -test.v
[ -s /rig/timeout ] && set -- "$@" "-test.timeout=$(cat /rig/timeout)"
[ -s /rig/run ] && set -- "$@" "-test.run=$(cat /rig/run)"
while read -r name dir; do
	[ -n "$name" ] || continue
	echo "RIG-BEGIN pkg=$name"
	cd "$dir"
	"/rig/bin/$name.test" "$@" </dev/null 2>&1
	rc=$?
	cd /
	echo
	echo "RIG-RESULT pkg=$name exit=$rc"
done < /rig/plan
echo "RIG-DONE"
sync
reboot -f
# Should reboot fail, exiting init panics the kernel, and panic=-1 reboots.
