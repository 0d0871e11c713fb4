package rig

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// sysroot is a userland tree the initramfs copies binaries from: "/" for a
// guest of the host's arch, or Debian packages extracted with dpkg-deb -x.
type sysroot struct {
	dir     string // host directory of the tree's "/"
	triplet string // multiarch triplet of its library directories
}

// resolve follows symlinks inside the tree, treating absolute link targets
// as relative to the tree's root, and returns the host path of the final
// file and its path inside the tree.
func (r sysroot) resolve(p string) (host, guest string, err error) {
	guest = path.Clean("/" + p)
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(strings.TrimPrefix(guest, "/"), "/")
		cur := "/"
		restart := false
		for i, part := range parts {
			next := path.Join(cur, part)
			fi, err := os.Lstat(filepath.Join(r.dir, next))
			if err != nil {
				return "", "", fmt.Errorf("rig: %s in %s: %w", guest, r.dir, err)
			}
			if fi.Mode()&os.ModeSymlink == 0 {
				cur = next
				continue
			}
			target, err := os.Readlink(filepath.Join(r.dir, next))
			if err != nil {
				return "", "", fmt.Errorf("rig: %w", err)
			}
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			guest = path.Join(append([]string{target}, parts[i+1:]...)...)
			restart = true
			break
		}
		if !restart {
			return filepath.Join(r.dir, cur), cur, nil
		}
	}
	return "", "", fmt.Errorf("rig: %s in %s: too many symlinks", p, r.dir)
}

// libDirs are the directories the dynamic loader searches, in its order.
func (r sysroot) libDirs() []string {
	return []string{"/lib/" + r.triplet, "/usr/lib/" + r.triplet, "/lib", "/usr/lib"}
}

// closure returns the guest paths of the ELF files in start together with
// every shared library and program interpreter they need, transitively
// (what `ldd` prints, found with the DT_NEEDED entries `readelf -d` shows,
// which also works for a foreign arch). The guest path of each library is
// the one the loader looks up, so the initramfs needs no symlinks.
func (r sysroot) closure(start []string) ([]string, error) {
	seen := make(map[string]bool)
	var out []string
	queue := append([]string{}, start...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		host, _, err := r.resolve(p)
		if err != nil {
			return nil, err
		}
		needed, interp, runpath, err := elfNeeds(host)
		if err != nil {
			return nil, err
		}
		if interp != "" && !seen[interp] {
			queue = append(queue, interp)
		}
		for _, lib := range needed {
			found, err := r.findLib(lib, runpath)
			if err != nil {
				return nil, fmt.Errorf("%w: %s (needed by %s)", err, lib, p)
			}
			queue = append(queue, found)
		}
	}
	return out, nil
}

func (r sysroot) findLib(name string, runpath []string) (string, error) {
	for _, d := range append(append([]string{}, runpath...), r.libDirs()...) {
		p := path.Join(d, name)
		if _, _, err := r.resolve(p); err == nil {
			return p, nil
		}
	}
	return "", ErrLibNotFound
}

// elfNeeds reads an ELF file's DT_NEEDED libraries, its PT_INTERP program
// interpreter and its DT_RUNPATH/DT_RPATH directories. A non-ELF file (a
// script) needs nothing.
func elfNeeds(p string) (needed []string, interp string, runpath []string, err error) {
	f, err := elf.Open(p)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, "", nil, nil
		}
		return nil, "", nil, fmt.Errorf("rig: elf %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return nil, "", nil, fmt.Errorf("rig: elf %s: interpreter: %w", p, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return nil, "", nil, fmt.Errorf("rig: elf %s: %w", p, err)
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				if d != "" && !strings.Contains(d, "$") {
					runpath = append(runpath, d)
				}
			}
		}
	}
	return needed, interp, runpath, nil
}
