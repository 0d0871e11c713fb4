// Package setup is the appliance's local web setup page: first-boot setup
// password, login, hub login, hub URL/room/camera/encoder settings, LED test,
// restart, a local preview, and the live status of both layers (socket and
// peer) with an RTT chart, the event log and the sim board's LEDs.
// It only reads health snapshots (house style point 10); hub login, restart,
// the LED test and the preview are functions the composition root hands in,
// and its assets are plain HTML/CSS/JS embedded in the binary.
//
// Against hostile clients on the local network (issue 12):
//
//	host.go   421 for a Host that does not name the appliance (DNS rebinding)
//	tls.go    HTTPS and plain HTTP on one port; plain HTTP is a 308 to https://
//	cert.go   the device's self-signed certificate, made once, and its fingerprint
//	server.go timeouts for headers, bodies and idle connections; the per-address
//	          connection cap (internal/netlimit); logins through internal/login
package setup
