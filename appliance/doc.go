// Package appliance is the composition root of tetherd: it runs the seed's
// start-up sequence (socket connect → session verify → media → room:join →
// peer connection → heartbeat → keep-alive) as one supervised whole, hands
// customer changes between the room protocol and the WebRTC layer, keeps
// what must survive a power cut in the store, and restarts the process
// cleanly when it is stuck.
//
// Health is reported to one tracker; the LEDs, serial console, setup page and
// metrics only subscribe to it.
package appliance
