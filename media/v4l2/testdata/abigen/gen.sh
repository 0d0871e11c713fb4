#!/bin/sh
# gen.sh regenerates the golden ABI tables in ../../abi_golden_test.go (by hand:
# paste each block under its GOARCH). Needs gcc, gcc-aarch64-linux-gnu,
# gcc-arm-linux-gnueabihf, linux-libc-dev{,-arm64-cross,-armhf-cross} and
# qemu-user-static with binfmt (Debian packages). Run from this directory.
#
# armv7 is built with the classic 32-bit time_t ABI (struct timeval = 2x int32),
# which is what media/v4l2 speaks; see the comment on v4l2.Timeval. The
# "arm-time64" block is printed for reference only (glibc -D_TIME_BITS=64).
set -e
out=$(mktemp -d)
gcc -O0 -static -o "$out/amd64" abigen.c
aarch64-linux-gnu-gcc -O0 -static -o "$out/arm64" abigen.c
arm-linux-gnueabihf-gcc -O0 -static -o "$out/arm" abigen.c
arm-linux-gnueabihf-gcc -O0 -static -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64 -o "$out/arm-time64" abigen.c
for a in amd64 arm64 arm arm-time64; do echo "\"$a\": {"; "$out/$a"; echo "},"; done
rm -rf "$out"
