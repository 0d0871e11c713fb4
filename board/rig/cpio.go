package rig

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// It creates missing parent directories itself, since the kernel's
// unpacker does not, and writes device nodes without needing root.
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// Mode bits of the newc header (the st_mode of stat(2)).
const (
	cpioDir     = 0o040000
	cpioReg     = 0o100000
	cpioSymlink = 0o120000
	cpioChar    = 0o020000
)

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, dirs: map[string]bool{"": true, ".": true}}
}

// cleanName turns an absolute guest path into the archive's relative form.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Dir adds a directory (and its parents).
func (c *cpioWriter) Dir(name string, perm uint32) error {
	name = cleanName(name)
	if c.dirs[name] {
		return c.err
	}
	if err := c.parents(name); err != nil {
		return err
	}
	c.dirs[name] = true
	return c.entry(name, cpioDir|perm, 0, 0, nil, 0)
}

// File adds a regular file of size bytes read from r.
func (c *cpioWriter) File(name string, perm uint32, r io.Reader, size int64) error {
	name = cleanName(name)
	if err := c.parents(name); err != nil {
		return err
	}
	return c.entry(name, cpioReg|perm, 0, 0, r, size)
}

// Symlink adds a symbolic link name → target.
func (c *cpioWriter) Symlink(name, target string) error {
	name = cleanName(name)
	if err := c.parents(name); err != nil {
		return err
	}
	return c.entry(name, cpioSymlink|0o777, 0, 0, strings.NewReader(target), int64(len(target)))
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) error {
	name = cleanName(name)
	if err := c.parents(name); err != nil {
		return err
	}
	return c.entry(name, cpioChar|perm, major, minor, nil, 0)
}

// Close writes the trailer.
func (c *cpioWriter) Close() error {
	return c.entry("TRAILER!!!", 0, 0, 0, nil, 0)
}

func (c *cpioWriter) parents(name string) error {
	if dir := path.Dir(name); !c.dirs[dir] {
		return c.Dir(dir, 0o755)
	}
	return c.err
}

func (c *cpioWriter) entry(name string, mode, rmajor, rminor uint32, r io.Reader, size int64) error {
	if c.err != nil {
		return c.err
	}
	if size > 0xffffffff {
		c.err = fmt.Errorf("rig: cpio: %s: %d bytes is too large for newc", name, size)
		return c.err
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == cpioDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rmajor, rminor, len(name)+1, 0)
	if _, err := io.WriteString(c.w, hdr+name+"\x00"+pad4(len(hdr)+len(name)+1)); err != nil {
		c.err = fmt.Errorf("rig: cpio: %w", err)
		return c.err
	}
	if size > 0 {
		n, err := io.Copy(c.w, io.LimitReader(r, size))
		if err == nil && n != size {
			err = fmt.Errorf("%s: short read (%d of %d bytes)", name, n, size)
		}
		if err != nil {
			c.err = fmt.Errorf("rig: cpio: %w", err)
			return c.err
		}
		if _, err := io.WriteString(c.w, pad4(int(size))); err != nil {
			c.err = fmt.Errorf("rig: cpio: %w", err)
			return c.err
		}
	}
	return nil
}

// pad4 returns the NUL padding that aligns n bytes to 4.
func pad4(n int) string {
	return "\x00\x00\x00"[:(4-n%4)%4]
}
