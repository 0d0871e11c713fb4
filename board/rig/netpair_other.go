//go:build !linux

package rig

import (
	"context"
	"net/netip"
)

// NetEnd is one side of a NetPair; see netpair_linux.go.
type NetEnd struct {
	NS   string
	Dev  string
	Addr netip.Addr
}

// NetPair needs Linux network namespaces; elsewhere every method fails.
type NetPair struct{ A, B NetEnd }

// NewNetPair returns ErrNotGuest off Linux.
func NewNetPair(context.Context, string) (*NetPair, error) { return nil, ErrNotGuest }

// Netem returns ErrNotGuest off Linux.
func (p *NetPair) Netem(context.Context, NetEnd, ...string) error { return ErrNotGuest }

// ClearNetem returns ErrNotGuest off Linux.
func (p *NetPair) ClearNetem(context.Context, NetEnd) error { return ErrNotGuest }

// Exec returns ErrNotGuest off Linux.
func (p *NetPair) Exec(context.Context, NetEnd, string, ...string) error { return ErrNotGuest }

// Do returns ErrNotGuest off Linux.
func (p *NetPair) Do(NetEnd, func() error) error { return ErrNotGuest }

// Close does nothing off Linux.
func (p *NetPair) Close() error { return nil }
