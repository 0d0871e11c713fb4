// Package ctlsock is the local control socket of Tether's daemons: HTTP on
// a unix socket beside the data file, for the command line to reach the
// running process, which holds bbolt's exclusive lock on that file.
//
// Only the daemon's own user and root may use it: the socket is mode 0600
// and, on Linux, every connection's peer uid is checked (SO_PEERCRED), so
// the window between listen and chmod grants nothing. Each connection
// carries one request, bounded in size and time, and few connections are
// served at once: a stuck or hostile client cannot hold the daemon. The
// hub's admin API (signaling/hub) and tetherd's status and login
// (appliance) are built on it.
package ctlsock
