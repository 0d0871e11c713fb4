package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// verifyFile checks the page structure of a bbolt file from its raw bytes,
// before bbolt maps it. bbolt trusts its pages: a damaged element offset
// makes it read past the mapping (SIGBUS, which kills the process), a damaged
// overflow count makes its own Check loop for minutes, a cycle of branch
// pointers makes a cursor descend forever. Any of those at boot would be a
// boot loop, so the whole tree is walked here with every offset bounded and
// every page visited once.
//
// The format is bbolt's on-disk format (version 2), in the host's byte order
// as bbolt writes it: a 16-byte page header {id u64, flags u16, count u16,
// overflow u32}; meta pages 0 and 1; 16-byte branch elements {pos u32,
// ksize u32, pgid u64} and leaf elements {flags u32, pos u32, ksize u32,
// vsize u32} whose pos is relative to the element; a bucket value is
// {root u64, sequence u64} followed by an inline leaf page when root is 0.
func verifyFile(data []byte) error {
	m, err := pickMeta(data)
	if err != nil {
		return err
	}
	v := &verifier{data: data, pageSize: uint64(m.pageSize), hwm: m.pgid, seen: map[uint64]bool{0: true, 1: true},
		budget: len(data)/elemSize + 1}
	if m.pgid < 3 || m.pgid > uint64(len(data))/v.pageSize {
		return fmt.Errorf("truncated: meta says %d pages of %d bytes, file has %d bytes", m.pgid, m.pageSize, len(data))
	}
	if m.freelist != ^uint64(0) {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	return v.bucketRoot(m.root, nil, 0)
}

const (
	bmagic          = 0xED0CDAED
	bversion        = 2
	pageHeaderSize  = 16
	elemSize        = 16
	bucketHeaderLen = 16
	flagBranch      = 0x01
	flagLeaf        = 0x02
	flagFreelist    = 0x10
	leafFlagBucket  = 0x01
	maxDepth        = 64
)

var ne = binary.NativeEndian

type metaPage struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

// pickMeta mirrors bbolt: the valid meta page with the higher txid wins.
func pickMeta(data []byte) (metaPage, error) {
	var best metaPage
	found := false
	var firstErr error
	try := func(off int) {
		m, err := parseMeta(data, off)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		if !found || m.txid > best.txid {
			best, found = m, true
		}
	}
	try(0)
	if found {
		try(int(best.pageSize))
	} else {
		for ps := 512; ps <= 1<<16; ps *= 2 {
			try(ps)
		}
	}
	if !found {
		return metaPage{}, fmt.Errorf("no valid meta page: %v", firstErr)
	}
	return best, nil
}

func parseMeta(data []byte, pageOff int) (metaPage, error) {
	const metaLen = 64
	off := pageOff + pageHeaderSize
	if off+metaLen > len(data) {
		return metaPage{}, fmt.Errorf("file too short for a meta page at %d", pageOff)
	}
	b := data[off : off+metaLen]
	h := fnv.New64a()
	h.Write(b[:56])
	switch {
	case ne.Uint32(b[0:]) != bmagic:
		return metaPage{}, fmt.Errorf("bad magic at %d", pageOff)
	case ne.Uint32(b[4:]) != bversion:
		return metaPage{}, fmt.Errorf("bad version at %d", pageOff)
	case ne.Uint64(b[56:]) != h.Sum64():
		return metaPage{}, fmt.Errorf("bad checksum at %d", pageOff)
	}
	m := metaPage{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]), pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return metaPage{}, fmt.Errorf("bad page size %d", m.pageSize)
	}
	return m, nil
}

type verifier struct {
	data     []byte
	pageSize uint64
	hwm      uint64
	seen     map[uint64]bool
	// budget bounds the elements visited. Every element of a healthy file
	// occupies 16 bytes of it (inline pages live inside their parent's
	// value), so a walk that needs more is going in circles: damaged inline
	// pages can alias each other and would otherwise blow up exponentially.
	budget int
}

// page returns the bytes of page id including its overflow pages, after
// checking it is in range, not seen before, and of the wanted type.
func (v *verifier) page(id uint64, flags uint16) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, fmt.Errorf("page %d out of range [2,%d)", id, v.hwm)
	}
	if v.seen[id] {
		return nil, fmt.Errorf("page %d referenced twice", id)
	}
	start := id * v.pageSize
	hdr := v.data[start : start+pageHeaderSize]
	overflow := uint64(ne.Uint32(hdr[12:]))
	if ne.Uint64(hdr[0:]) != id {
		return nil, fmt.Errorf("page %d has id %d in its header", id, ne.Uint64(hdr[0:]))
	}
	if ne.Uint16(hdr[8:])&flags == 0 {
		return nil, fmt.Errorf("page %d has flags %#x, want %#x", id, ne.Uint16(hdr[8:]), flags)
	}
	if overflow >= v.hwm-id {
		return nil, fmt.Errorf("page %d overflow %d past the end", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if v.seen[i] {
			return nil, fmt.Errorf("page %d overlaps page %d", id, i)
		}
		v.seen[i] = true
	}
	return v.data[start : start+(overflow+1)*v.pageSize], nil
}

func (v *verifier) freelist(id uint64) error {
	p, err := v.page(id, flagFreelist)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	count, idx := uint64(ne.Uint16(p[10:])), uint64(0)
	if count == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return fmt.Errorf("freelist: too short")
		}
		count, idx = ne.Uint64(p[pageHeaderSize:]), 1
	}
	if count > (uint64(len(p))-pageHeaderSize)/8-idx {
		return fmt.Errorf("freelist: %d ids do not fit its pages", count)
	}
	for i := idx; i < idx+count; i++ {
		if f := ne.Uint64(p[pageHeaderSize+8*i:]); f < 2 || f >= v.hwm {
			return fmt.Errorf("freelist: free page %d out of range", f)
		}
	}
	return nil
}

// bucketRoot walks the bucket whose root page is root, or whose inline page
// is inline when root is 0.
func (v *verifier) bucketRoot(root uint64, inline []byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("buckets nested too deep")
	}
	if root == 0 {
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:])&flagLeaf == 0 {
			return fmt.Errorf("bad inline bucket page")
		}
		return v.elements(inline, false, depth)
	}
	return v.tree(root, depth, 0)
}

func (v *verifier) tree(id uint64, depth, height int) error {
	if height > maxDepth {
		return fmt.Errorf("page %d: tree too deep", id)
	}
	p, err := v.page(id, flagBranch|flagLeaf)
	if err != nil {
		return err
	}
	branch := ne.Uint16(p[8:])&flagBranch != 0
	if err := v.elements(p, branch, depth); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	if branch {
		for i := 0; i < int(ne.Uint16(p[10:])); i++ {
			e := p[pageHeaderSize+i*elemSize:]
			if err := v.tree(ne.Uint64(e[8:]), depth, height+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// elements checks that every element of page p (a real page or an inline
// one) and its key and value lie inside p, and walks sub-buckets.
func (v *verifier) elements(p []byte, branch bool, depth int) error {
	count := int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elemSize > len(p) {
		return fmt.Errorf("%d elements do not fit in %d bytes", count, len(p))
	}
	if branch && count == 0 {
		return fmt.Errorf("empty branch page")
	}
	if v.budget -= count; v.budget < 0 {
		return fmt.Errorf("more elements than the file can hold")
	}
	for i := 0; i < count; i++ {
		off := uint64(pageHeaderSize + i*elemSize)
		e := p[off : off+elemSize]
		var pos, klen, vlen uint64
		if branch {
			pos, klen = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
		} else {
			pos, klen, vlen = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		}
		end := off + pos + klen + vlen
		if end > uint64(len(p)) {
			return fmt.Errorf("element %d runs past its page (%d > %d)", i, end, len(p))
		}
		if branch || ne.Uint32(e[0:])&leafFlagBucket == 0 {
			continue
		}
		val := p[off+pos+klen : end]
		if len(val) < bucketHeaderLen {
			return fmt.Errorf("element %d: bucket header too short", i)
		}
		if err := v.bucketRoot(ne.Uint64(val[0:]), val[bucketHeaderLen:], depth+1); err != nil {
			return fmt.Errorf("bucket %q: %w", p[off+pos:off+pos+klen], err)
		}
	}
	return nil
}
