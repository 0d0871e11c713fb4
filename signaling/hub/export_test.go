package hub

import "runtime"

// HoldStoreGate takes every slot of h's store admission gate until the
// returned release is called: look-ups then wait storeWait and are busy.
func HoldStoreGate(h *Hub) (release func()) {
	stop := make(chan struct{})
	for range storeSlots {
		go func() { _ = h.gate.Do(func() { <-stop }) }()
	}
	for h.gate.InUse() < storeSlots {
		runtime.Gosched()
	}
	return func() { close(stop) }
}
