// Package console is the appliance's serial console: it writes one status
// line (health.Snapshot.Line) on every health change and every 30 s, and
// answers a few commands typed on the same line (status, log, net, restart,
// help) for a field tech with a USB-serial cable.
// It only subscribes to the health tracker (house style point 10); the
// runtime opens /dev/console or a configured tty and hands it in.
package console
