# Tether: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
NPM_DIRS := $(shell git ls-files '*package-lock.json' 2>/dev/null | xargs -r -n1 dirname)

.PHONY: demo build test deps npm web vet fmt-check unit fuzz cross bench bench-short bench-table bench-cluster rig dist dist-deps dist-check dist-boot debian-boot

# VERSION is stamped into both binaries (`tetherd -version`, `tether-hub
# version`, tether_build_info, device:status); "dev" when not built here.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X tether/internal/version.Version=$(VERSION)

demo: npm web
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/tether-demo

# build writes bin/tetherd and bin/tether-hub with the version stamped.
build: npm web
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/tetherd ./cmd/tether-hub

# web builds the customer page the hub embeds (signaling/hub/web/dist);
# it is skipped when dist is newer than the sources and the lockfile.
WEB := signaling/hub/web
web: npm
	@if [ ! -f $(WEB)/dist/index.html ] || [ -n "$$(find $(WEB)/src $(WEB)/build.mjs $(WEB)/package-lock.json -newer $(WEB)/dist/index.html 2>/dev/null | head -1)" ]; then \
	  echo "building the customer page"; (cd $(WEB) && npm run build) || exit 1; \
	fi

# test runs everything CI runs: formatting, vet, the whole suite under the race
# detector (integration tests start Node socket.io and Chromium themselves),
# a short run of every fuzz target, and the cross-architecture checks.
test: npm web fmt-check vet unit fuzz cross bench-short dist-check dist-boot rig

npm:
	@for d in $(NPM_DIRS); do \
	  if [ ! -d $$d/node_modules ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
	    echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	  fi; \
	done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# fuzz runs each Fuzz target briefly (FUZZTIME, default 10s). A finding
# (the engine writes the failing input under testdata/fuzz) fails at once;
# a run that ends only with the engine's own "context deadline exceeded"
# at the time limit, with no input written, is tried once more.
FUZZTIME ?= 10s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/func //'); do \
	    echo "fuzz $$pkg $$t"; \
	    if ! $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg > /tmp/tether-fuzz.$$$$ 2>&1; then \
	      cat /tmp/tether-fuzz.$$$$; \
	      if grep -q "Failing input written" /tmp/tether-fuzz.$$$$ || ! grep -q "context deadline exceeded" /tmp/tether-fuzz.$$$$; then rm -f /tmp/tether-fuzz.$$$$; exit 1; fi; \
	      echo "fuzz $$pkg $$t: engine timeout at the limit, no input written; once more"; \
	      $(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	    else tail -n 2 /tmp/tether-fuzz.$$$$; fi; \
	    rm -f /tmp/tether-fuzz.$$$$; \
	  done; \
	done

# cross builds everything for the boards we ship and runs the ABI-sensitive
# packages' tests under qemu-user when binfmt is set up.
cross:
	GOOS=linux GOARCH=arm64 $(GO) build -ldflags "$(LDFLAGS)" ./...
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -ldflags "$(LDFLAGS)" ./...
	@set -e; if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then \
	  GOOS=linux GOARCH=arm64 $(GO) test -short -count=1 $(CROSS_PKGS); \
	  GOOS=linux GOARCH=arm GOARM=7 $(GO) test -short -count=1 $(CROSS_PKGS); \
	else echo "cross: qemu-user binfmt not registered; tests skipped (CI registers it)"; fi
CROSS_PKGS ?= ./media/... ./store/... ./gpio/... ./board/... ./appliance/health ./signaling/engineio ./signaling/socketio

# bench runs the benchmarks whose figures the issues ask for (minutes; not
# part of `make test`). Results are ratios against a baseline in the same run.
bench: npm
	$(GO) test -run '^$$' -bench . -benchmem ./signaling/engineio ./signaling/socketio ./media/... ./store
	# issue 15: 1000 customer changes on the speaker, no goroutine/fd/heap growth
	TETHER_SPEAKER_SWITCHES=1000 $(GO) test -count=1 -run TestPlayerCustomerChanges -v ./media
	$(GO) test -run '^$$' -bench 'ReconnectAfterRestart|LinkFlap' -benchtime 1x ./signaling
	$(GO) test -run '^$$' -bench . -skip 'NetnsICERestart|NetnsCustomerChange' -benchtime 1x ./appliance/peer
	# the seed's admin page in Chromium beside the pion peer across namespaces
	$(GO) test -run '^$$' -bench 'NetnsICERestart|NetnsCustomerChange' -benchtime 5x ./appliance/peer
	# peak RSS of the hub under a login storm; TETHER_BEFORE_DIR=<older tree> adds it and the ratio
	$(GO) test -run '^$$' -bench LoginStorm -benchtime 1x ./cmd/tether-hub
	$(GO) test -run '^$$' -bench W3CCustomerChange -benchtime 200x -timeout 60m ./internal/systest
	# Issue 12's attacks on the hub process; before/after ratios need an
	# older tree: TETHER_HUB_BEFORE=/tmp/before (git worktree add /tmp/before 9d25b48).
	$(GO) test -run '^$$' -bench Attack -benchtime 1x ./signaling/hub
	# Issue 15's 1000 customer changes on one open screen (goroutines, fds, heap)
	TETHER_DISPLAY_CHANGES=1000 $(GO) test -count=1 -run TestCustomerChange -v ./media/display

# bench-cluster measures the hub on several nodes (issue 17 §4): 3 nodes
# with 17,000 idle devices each (RSS per socket, Redis operations per
# device per minute), a reconnect storm after kill -9 of one, and RSS per
# socket against the official Node server. Tens of thousands of loopback
# sockets for several minutes; TETHER_SCALE_PER_NODE etc. scale it down.
bench-cluster: npm
	TETHER_SCALE=1 $(GO) test -run '^$$' -bench ClusterScale -benchtime 1x -timeout 60m -v ./cmd/tether-hub

# bench-short is tether-bench's CI run (issue 16; root: network
# namespaces): the real tetherd, tether-hub and a Chromium customer in
# namespaces A—R—B, every metric with few repetitions beside its baseline,
# the fault matrix with short cuts and a 5-fault soak. It prints the
# tables; it fails only when a fault does not recover or loses state,
# never on a figure. A few minutes on 2 cores.
bench-short: npm web
	nice -n 5 $(GO) run ./cmd/tether-bench -short -faults -soak 5

# bench-table is the full tether-bench run behind the README's table
# (about an hour): link cuts of 2–60 s, the fault matrix with 2/30/120 s
# cuts, the baselines that live in benchmarks (the seed's admin page,
# issue 12's attacks), ~19k idle sockets, and a soak of SOAK faults.
SOAK ?= 100
bench-table: npm web
	nice -n 5 $(GO) run ./cmd/tether-bench -faults -soak $(SOAK) -json bench.json

# rig boots the emulated board (board/rig): a kernel built from
# board/rig/config (cached in board/rig/.cache) under qemu, running every
# rig-tagged test against gpio-sim, vivid, vicodec, snd-aloop and netem.
RIG_ARCHES ?= x86_64,arm64
rig:
	TETHER_RIG=$(RIG_ARCHES) $(GO) test -count=1 -timeout 60m -run TestGuestSuites -v ./board/rig

# dist builds what a shop installs (issue 14; packaging/, cmd/tether-dist):
# for arm64, armhf (GOARM=7) and amd64, static cgo binaries (openh264 and
# libopus inside, -trimpath, stripped, VERSION stamped), release archives
# and Debian packages, in out/dist. dist-deps installs the cross compilers
# and the targets' libopus-dev (root). dist-check tests the results: the
# arm64/armv7 binaries under qemu-user, lintian, and the amd64 packages'
# install/upgrade/remove/purge in a throw-away root.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DIST    ?= out/dist
DIST_ARCHES ?= arm64,armhf,amd64
dist: web dist-deps
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) nice -n 10 $(GO) run ./cmd/tether-dist -version $(VERSION) -out $(DIST) -arch $(DIST_ARCHES)

dist-deps:
	@sh packaging/install-deps

dist-check: dist
	TETHER_DIST=$(abspath $(DIST)) $(GO) test -count=1 -timeout 30m -v -run 'TestDist' ./packaging

# dist-boot boots what we ship on the emulated arm64 board (board/rig, qemu
# TCG): the dist arm64 binaries, Buildroot's S90tetherd and the generated
# tetherd.json; tetherd started by the init script reaches the hub on this
# machine's loopback through the guest's only NIC (qemu user networking,
# restrict=on, guestfwd), captures from vivid and snd-aloop, and a headless
# Chromium customer here decodes its frames after the start, after kill -9
# and after SIGSTOP (the script's watchdog). About 35 s once the rig's arm64 kernel is cached (it
# is built once for `make rig` anyway), so it is part of `make test`.
dist-boot: dist
	TETHER_DIST=$(abspath $(DIST)) TETHER_RIG=arm64 $(GO) test -count=1 -timeout 40m -v -run TestBootShippedArm64 ./packaging/boot

# debian-boot boots the Debian package under systemd: an arm64 bookworm
# root made with mmdebstrap (qemu-user), the dist tetherd .deb installed in
# it with dpkg, Debian's arm64 kernel, systemd as PID 1 under qemu TCG;
# the same checks as dist-boot plus kill -9 (Restart=), SIGSTOP
# (WatchdogSec=) and a corrupt config (the unit stays active at fault).
# Minutes of TCG boot, so not part of `make test`; the root and the kernel
# package are cached in /var/cache/tether-dist.
debian-boot: dist
	TETHER_DIST=$(abspath $(DIST)) TETHER_DEBIAN_BOOT=1 $(GO) test -count=1 -timeout 45m -v -run TestBootSystemdArm64 ./packaging/boot
