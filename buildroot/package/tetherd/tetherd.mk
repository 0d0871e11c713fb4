################################################################################
#
# tetherd
#
################################################################################

# Built from this very tree (the BR2_EXTERNAL lives in its buildroot/
# folder); TETHERD_OVERRIDE_SRCDIR can point elsewhere.
TETHERD_VERSION = $(shell git -C $(BR2_EXTERNAL_TETHER_PATH) describe --tags --always --dirty 2>/dev/null || echo dev)
TETHERD_SITE = $(BR2_EXTERNAL_TETHER_PATH)/..
TETHERD_SITE_METHOD = local
TETHERD_LICENSE = Proprietary
TETHERD_GOMOD = tether
TETHERD_BUILD_TARGETS = cmd/tetherd
TETHERD_LDFLAGS = -X tether/internal/version.Version=$(TETHERD_VERSION)
# As the release binaries: no in-process demo hub.
TETHERD_TAGS = nodemo
# opus through pkg-config (#cgo pkg-config: opus); openh264 from the
# static libraries in github.com/pion/mediadevices (no "dynamic" tag).
TETHERD_DEPENDENCIES = host-pkgconf opus
TETHERD_GO_ENV = CGO_ENABLED=1

# A local site is rsynced, not downloaded, so the golang infrastructure's
# download-time vendoring does not run: vendor here, from the Go module
# proxy or GOFLAGS/GOPROXY given in the environment.
define TETHERD_VENDOR
	cd $(@D) && $(HOST_GO_COMMON_ENV) GOFLAGS=-mod=mod \
		GOPROXY=$(if $(GOPROXY),$(GOPROXY),https://proxy.golang.org) \
		$(GO_BIN) mod vendor
endef
TETHERD_POST_RSYNC_HOOKS += TETHERD_VENDOR

define TETHERD_USERS
	tether -1 tether -1 * /var/lib/tether - video,audio,gpio,dialout Tether counter appliance
endef

define TETHERD_PERMISSIONS
	/var/lib/tether d 750 tether tether - - - - -
endef

# Every setting with its default, generated from the code (appliance.
# ExampleConfig) as for the Debian package.
define TETHERD_INSTALL_CONFIG
	mkdir -p $(TARGET_DIR)/etc/tether
	cd $(@D) && $(HOST_GO_HOST_ENV) CGO_ENABLED=0 \
		$(GO_BIN) run ./cmd/tether-dist -example \
		>$(TARGET_DIR)/etc/tether/tetherd.json
	$(INSTALL) -D -m 0644 $(@D)/packaging/60-tether.rules \
		$(TARGET_DIR)/lib/udev/rules.d/60-tether.rules
	mkdir -p $(TARGET_DIR)/var/lib/tether
endef
TETHERD_POST_INSTALL_TARGET_HOOKS += TETHERD_INSTALL_CONFIG

define TETHERD_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(TETHERD_PKGDIR)/S90tetherd \
		$(TARGET_DIR)/etc/init.d/S90tetherd
endef

define TETHERD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/packaging/tetherd.service \
		$(TARGET_DIR)/usr/lib/systemd/system/tetherd.service
endef

$(eval $(golang-package))
