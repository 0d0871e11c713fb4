// Package customerpage holds the whole-product tests of the customer page:
// the hub's page (signaling/hub/web, built with npm) in headless Chromium
// as customers, the hub, and the appliance as the counter — in one process
// (browser_env_test.go) or as the real tetherd across network namespaces
// (browser_netns_test.go).
//
// They live under internal/systest, beside the reference-server system
// tests, so that no test under signaling/ imports the appliance (issue 13):
// the hub's own tests stop at its protocol.
package customerpage
