package bench

import (
	"fmt"
	"time"

	"tether/internal/testenv"
)

// The glass-to-glass baseline: Chromium sending to Chromium over the
// same path (A → R → B). The sender in A paints the same stamp as
// media/testsrc (layout in its package comment) on a 320×180 canvas at
// 15 fps and sends canvas.captureStream() over an RTCPeerConnection; the
// receiver in B reads it back with stampJS. Signalling is relayed here,
// non-trickle (the offer and answer carry every candidate).

const senderJS = `(async () => {
  const W = 320, H = 180, cell = Math.floor(W / 32) & ~1;
  const c = document.createElement('canvas'); c.width = W; c.height = H;
  const g = c.getContext('2d');
  const crc8 = (ms) => { let cc = 0; for (let i = 5; i >= 0; i--) { cc ^= Math.floor(ms / 2 ** (8 * i)) & 0xff;
    for (let b = 0; b < 8; b++) cc = (cc & 0x80) ? ((cc << 1) ^ 7) & 0xff : (cc << 1) & 0xff; } return cc; };
  let n = 0;
  const paint = () => {
    const ms = Date.now();
    g.fillStyle = 'rgb(' + (n * 7 % 255) + ',90,140)'; g.fillRect(0, 0, W, H); n++;
    const bits = [];
    for (let i = 47; i >= 0; i--) bits.push(Math.floor(ms / 2 ** i) % 2);
    const crc = crc8(ms);
    for (let i = 7; i >= 0; i--) bits.push((crc >> i) & 1);
    bits.push(0, 0, 0, 0);
    for (let row = 0; row < 2; row++) {
      g.fillStyle = '#fff'; g.fillRect(0, row * cell, cell, cell);
      g.fillStyle = '#000'; g.fillRect(cell, row * cell, cell, cell);
      for (let cx = 2; cx < 32; cx++) { g.fillStyle = bits[row * 30 + cx - 2] ? '#fff' : '#000'; g.fillRect(cx * cell, row * cell, cell, cell); }
    }
  };
  paint(); setInterval(paint, 1000 / 15);
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.addTrack(c.captureStream(15).getVideoTracks()[0]);
  await pc.setLocalDescription();
  await new Promise(r => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
  return JSON.stringify(pc.localDescription);
})()`

const receiverJS = `(async (offer) => {
  const v = document.createElement('video'); v.id = 'remote'; v.autoplay = true; v.muted = true; v.playsInline = true;
  document.body.appendChild(v);
  const pc = new RTCPeerConnection();
  window.pc = pc;
  pc.ontrack = (e) => { v.srcObject = new MediaStream([e.track]); v.play().catch(() => {}); };
  await pc.setRemoteDescription(JSON.parse(offer));
  await pc.setLocalDescription();
  await new Promise(r => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
  return JSON.stringify(pc.localDescription);
})`

// chromiumG2G measures the baseline: n stamps read in B from a Chromium
// sender in A.
func (w *world) chromiumG2G(n int) ([]float64, error) {
	var out []float64
	err := step(func() {
		sender := testenv.StartBrowser(w.t, w.topo.A, w.t.TempDir(), nil).Open("g2g-sender", "about:blank")
		recv := w.br.Open("g2g-receiver", "about:blank")
		defer recv.Close()
		defer sender.Close()
		offer, err := testenv.Eval[string](sender, senderJS)
		if err != nil {
			w.t.Fatalf("sender offer: %v", err)
		}
		answer, err := testenv.Eval[string](recv, fmt.Sprintf("%s(%q)", receiverJS, offer))
		if err != nil {
			w.t.Fatalf("receiver answer: %v", err)
		}
		if _, err := testenv.Eval[bool](sender, fmt.Sprintf("pc.setRemoteDescription(JSON.parse(%q)).then(() => true)", answer)); err != nil {
			w.t.Fatalf("sender answer: %v", err)
		}
		// Frames need a moment to start (ICE, DTLS, the first keyframe).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if ok, _ := testenv.Eval[bool](recv, "(() => { const v = document.getElementById('remote'); return !!v && v.videoWidth > 0; })()"); ok {
				break
			}
		}
		out, err = testenv.Eval[[]float64](recv, fmt.Sprintf("%s(%d, %d)", stampJS, n, 3500))
		if err != nil {
			w.t.Fatalf("read stamps: %v", err)
		}
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("no stamp decoded in the receiver")
	}
	return out, err
}
