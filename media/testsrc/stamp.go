package testsrc

import "fmt"

// Layout of the stamp (see the package comment).
const (
	stampCols    = 32
	stampRows    = 2
	stampRefs    = 2 // white and black reference cells at the start of each row
	stampBits    = stampRows * (stampCols - stampRefs)
	stampTimeBit = 48
	lumaWhite    = 235
	lumaBlack    = 16
	minContrast  = 48 // white minus black reference, below which we give up
)

// CellSize is the side in pixels of one stamp cell for a frame width.
func CellSize(width int) int {
	c := width / stampCols &^ 1
	if c < 4 {
		return 0
	}
	return c
}

// StampHeight is the height in pixels of the stamp band at the top of a
// frame of the given width.
func StampHeight(width int) int { return stampRows * CellSize(width) }

// crc8 is CRC-8 with polynomial x^8+x^2+x+1 (0x07), init 0, no reflection.
func crc8(v uint64) uint8 {
	var c uint8
	for i := 5; i >= 0; i-- {
		c ^= uint8(v >> (8 * i))
		for b := 0; b < 8; b++ {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// stampWord is the 60-bit word: 48 bits of time, 8 of CRC, 4 zero.
func stampWord(ms uint64) uint64 {
	ms &= 1<<stampTimeBit - 1
	return ms<<12 | uint64(crc8(ms))<<4
}

// WriteStamp paints the stamp for ms into the luma plane y (stride bytes
// per row) of a frame width pixels wide. It does not allocate.
func WriteStamp(y []byte, stride, width int, ms uint64) error {
	cell := CellSize(width)
	if cell == 0 || stride < width || len(y) < stride*(stampRows*cell-1)+width {
		return fmt.Errorf("%w: %dx stride %d for a stamp", ErrSize, width, stride)
	}
	w := stampWord(ms)
	for r := 0; r < stampRows; r++ {
		for c := 0; c < stampCols; c++ {
			var v byte
			switch {
			case c == 0:
				v = lumaWhite
			case c == 1:
				v = lumaBlack
			default:
				bit := r*(stampCols-stampRefs) + c - stampRefs
				if w>>(stampBits-1-bit)&1 == 1 {
					v = lumaWhite
				} else {
					v = lumaBlack
				}
			}
			for py := r * cell; py < (r+1)*cell; py++ {
				row := y[py*stride+c*cell : py*stride+(c+1)*cell]
				for i := range row {
					row[i] = v
				}
			}
		}
	}
	return nil
}

// cellMean averages the middle half of one cell.
func cellMean(y []byte, stride, cell, r, c int) int {
	x0, y0 := c*cell+cell/4, r*cell+cell/4
	n, sum := 0, 0
	for py := y0; py < y0+cell/2; py++ {
		for px := x0; px < x0+cell/2; px++ {
			sum += int(y[py*stride+px])
			n++
		}
	}
	return sum / n
}

// Decode reads the stamp from the luma plane y of a decoded frame (stride
// bytes per row, width pixels wide) and returns the capture time in
// milliseconds since the Unix epoch. It does not allocate.
func Decode(y []byte, stride, width int) (uint64, error) {
	cell := CellSize(width)
	if cell == 0 || stride < width || len(y) < stride*(stampRows*cell-1)+width {
		return 0, fmt.Errorf("%w: %dx stride %d, %d bytes", ErrSize, width, stride, len(y))
	}
	var w uint64
	for r := 0; r < stampRows; r++ {
		white := cellMean(y, stride, cell, r, 0)
		black := cellMean(y, stride, cell, r, 1)
		if white-black < minContrast {
			return 0, fmt.Errorf("%w: row %d contrast %d", ErrNoStamp, r, white-black)
		}
		thr := (white + black) / 2
		for c := stampRefs; c < stampCols; c++ {
			w <<= 1
			if cellMean(y, stride, cell, r, c) > thr {
				w |= 1
			}
		}
	}
	ms := w >> 12
	if uint8(w>>4) != crc8(ms) || w&0xf != 0 {
		return 0, fmt.Errorf("%w: checksum", ErrNoStamp)
	}
	return ms, nil
}
