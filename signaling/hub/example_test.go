package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"tether/internal/testenv"
	"tether/signaling/hub"
	"tether/signaling/hub/auth"
)

// An in-process hub on loopback, as `tetherd -demo` runs one: a counter
// account, its session token for the appliance, and an invite link.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "hub")
	defer os.RemoveAll(dir)
	h, err := hub.New(hub.Config{Listen: "127.0.0.1:0", DataPath: filepath.Join(dir, "hub.db"),
		KDF: testenv.KDF, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()

	acct, _ := h.Store().AddAccount("demo", "demo-password", auth.RoleCounter, "")
	sess, token, _ := h.Store().Login("demo", "demo-password")
	inv, _ := h.Store().NewInvite(acct.RoomID, 0)
	fmt.Println(sess.DeviceID, sess.RoomID, len(token), len(h.InviteLink(inv.Code)) > len(h.URL()))

	cancel()
	fmt.Println(<-done)
	// Output:
	// dev-demo demo 43 true
	// <nil>
}
