// Package health is the appliance's single health tracker: components report
// typed facts (socket, peer, media, network, booting, restarting, fault) and
// the tracker derives one overall State from them.
// LEDs, the serial console, the setup page and metrics only subscribe to its
// Snapshots (house style point 10, after tailscale's health.Tracker).
package health
