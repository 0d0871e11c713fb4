// Package setup is the appliance's local web setup page: first-boot setup
// password, login, hub login, hub URL/room/camera/encoder settings, LED test,
// restart, a local preview, and the live status of both layers (socket and
// peer) with an RTT chart, the event log and the sim board's LEDs.
// It only reads health snapshots (house style point 10); hub login, restart,
// the LED test and the preview are functions the composition root hands in,
// and its assets are plain HTML/CSS/JS embedded in the binary.
package setup
