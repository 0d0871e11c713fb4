// Package appliance is the composition root of tetherd: it runs the seed's
// start-up sequence (socket connect → session verify → media → room:join →
// peer connection → heartbeat → keep-alive) as one supervised whole, hands
// customer changes from the room protocol to the WebRTC layer, keeps what
// must survive a power cut in the store, and restarts the process cleanly
// when it is stuck.
//
// One goroutine, App.Run, owns the appliance's state; the socket, the WebRTC
// layer, the media pipeline, the setup page and the supervisor feed it typed
// events (events.go) and it alone writes the store (record.go). Health is
// reported to one tracker; the LEDs, serial console, setup page and metrics
// only subscribe to it. docs/architecture.md has the picture.
package appliance
