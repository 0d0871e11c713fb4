// Package testsrc makes Tether's test sources: a moving I420 test pattern
// that carries its capture timestamp in the picture as a row of large
// black/white cells, and a 48 kHz mono test tone. They stand in for the
// camera and microphone on laptops, in CI and in the demo, and the stamp lets
// a browser (or Decode) read back the capture time for glass-to-glass
// latency.
//
// # The stamp
//
// The top of every frame holds two rows of 32 square cells each. A cell is
// CellSize(width) pixels wide and high (width/32 rounded down to a multiple
// of 2, at least 4). In each row, cell 0 is white (luma 235) and cell 1 is
// black (luma 16): they give the reader its levels, and the threshold is
// their midpoint. Cells 2..31 of row 0 then row 1 carry 60 bits, most
// significant first, white for 1:
//
//	bits 0..47   capture time, milliseconds since the Unix epoch
//	bits 48..55  CRC-8 (polynomial 0x07, init 0) of the 6 time bytes, big-endian
//	bits 56..59  0
//
// A reader samples the middle half of each cell, averages it and compares it
// with the threshold. Cells are large and flat, so they survive H.264 at
// WebRTC bitrates; the 8-bit CRC rejects a frame whose cells were smeared.
package testsrc
