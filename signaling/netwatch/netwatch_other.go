//go:build !linux

package netwatch

import "context"

// listen reports nothing off Linux: fast retries are an optimisation.
func listen(ctx context.Context, _ chan<- struct{}) error {
	<-ctx.Done()
	return nil
}
