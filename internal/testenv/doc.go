// Package testenv is the one home of the test environment the system and
// browser tests share: finding Debian's Chromium and the options it runs
// with (headless, fake camera and microphone), `npm ci` under a
// cross-process lock, and the real tetherd binary built, logged in and run
// with its log, serial console and /metrics readable.
//
// It is imported by tests only; nothing in the product depends on it.
package testenv
