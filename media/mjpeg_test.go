package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"tether/media/v4l2"
)

// TestMJPEGWithoutHuffmanTables decodes a frame as many UVC cameras send
// it: a JPEG with its DHT segment removed.
func TestMJPEGWithoutHuffmanTables(t *testing.T) {
	const w, h = 64, 48
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = byte(i), byte(255-i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	full := b.Bytes()
	seg, ok := findSegment(full, 0xc4)
	if !ok {
		t.Fatal("encoded JPEG has no DHT")
	}
	i := bytes.Index(full, seg)
	stripped := append(bytes.Clone(full[:i]), full[i+len(seg):]...)
	if _, err := jpeg.Decode(bytes.NewReader(stripped)); err == nil {
		t.Fatal("image/jpeg decoded a frame without Huffman tables; the fix-up is not needed")
	}
	var c converter
	want, err := c.toI420(RawFrame{Data: full, Format: v4l2.PixFmtMJPEG, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.Clone(want)
	got, err := c.toI420(RawFrame{Data: stripped, Format: v4l2.PixFmtMJPEG, Width: w, Height: h})
	if err != nil {
		t.Fatalf("frame without DHT: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("frame without DHT decodes differently from the one with it")
	}
}
