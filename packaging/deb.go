package packaging

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Maintainer of the packages.
const Maintainer = "Tether maintainers <tether@tether.example.com>"

var debVersionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// DebVersion turns `git describe` output into a native Debian version:
// v1.2.0 → 1.2.0, v1.2.0-5-gabc → 1.2.0+5.gabc, v2.0.0-rc1 → 2.0.0~rc1, a bare hash (no tag yet)
// → 0~git.<hash>; "-dirty" becomes "+dirty".
func DebVersion(v string) (string, error) {
	v = strings.TrimPrefix(v, "v")
	if regexp.MustCompile(`^[0-9a-f]{7,40}(-dirty)?$`).MatchString(v) {
		v = "0~git." + v
	}
	// A pre-release tag sorts before its release (Debian's ~).
	v = regexp.MustCompile(`-(rc|alpha|beta)`).ReplaceAllString(v, "~$1")
	v = strings.ReplaceAll(v, "-g", ".g")
	v = strings.ReplaceAll(v, "-", "+")
	if !debVersionRE.MatchString(v) {
		return "", fmt.Errorf("%w: version %q does not make a Debian version", ErrBuild, v)
	}
	return v, nil
}

// Debs writes tetherd_<v>_<arch>.deb and tether-hub_<v>_<arch>.deb.
func (b *Builder) Debs(t Target, bins Binaries, exampleConfig []byte) ([]string, error) {
	ver, err := DebVersion(b.Version)
	if err != nil {
		return nil, err
	}
	stage := filepath.Join(b.Out, "stage", t.Deb)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBuild, err)
	}
	changelog := func(pkg string) []byte {
		return gz(fmt.Appendf(nil, "%s (%s) unstable; urgency=medium\n\n  * Release %s (git describe).\n\n -- %s  %s\n",
			pkg, ver, b.Version, Maintainer, b.MTime.Format("Mon, 02 Jan 2006 15:04:05 -0700")))
	}
	pkgs := []struct {
		name, desc string
		depends    []string
		bin        string
		files      []entry
	}{
		{"tetherd", "Tether counter appliance daemon\n" +
			" Keeps a counter's live two-way video link to customers: Socket.IO\n" +
			" signalling and WebRTC media to a Tether hub, camera and microphone\n" +
			" capture with hardware or built-in software encoders, LEDs and button\n" +
			" on GPIO, a local setup page and a serial console status line.",
			[]string{"adduser", "init-system-helpers (>= 1.52)"}, bins.Tetherd,
			[]entry{
				{"/lib/systemd/system/tetherd.service", b.file("tetherd.service"), 0o644},
				{"/etc/tether/tetherd.json", exampleConfig, 0o644},
				{"/lib/udev/rules.d/60-tether.rules", b.file("60-tether.rules"), 0o644},
				{"/usr/share/man/man8/tetherd.8.gz", gz(b.file("tetherd.8")), 0o644},
			}},
		{"tether-hub", "Tether hub: signalling, TURN and the customer page\n" +
			" The server that Tether counters and their customers' browsers meet\n" +
			" at: room signalling over Socket.IO, an embedded TURN server, counter\n" +
			" accounts and invite links, and the customer web page built in.",
			[]string{"adduser", "init-system-helpers (>= 1.52)"}, bins.Hub,
			[]entry{
				{"/lib/systemd/system/tether-hub.service", b.file("tether-hub.service"), 0o644},
				{"/etc/default/tether-hub", b.file("tether-hub.default"), 0o644},
				{"/usr/share/man/man8/tether-hub.8.gz", gz(b.file("tether-hub.8")), 0o644},
			}},
	}
	var out []string
	for _, p := range pkgs {
		dir := filepath.Join(stage, p.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBuild, err)
		}
		all := append([]entry{
			{"/usr/share/doc/" + p.name + "/copyright", b.file("copyright"), 0o644},
			{"/usr/share/doc/" + p.name + "/changelog.gz", changelog(p.name), 0o644},
			{"/usr/share/lintian/overrides/" + p.name, overridesFor(b.file("deb/"+p.name+".lintian-overrides"), t.Deb), 0o644},
		}, p.files...)
		contents := files.Contents{{Source: p.bin, Destination: "/usr/bin/" + p.name,
			FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: b.MTime}}}
		for i, e := range all {
			src := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(e.name)))
			if err := os.WriteFile(src, e.data, 0o644); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBuild, err)
			}
			c := &files.Content{Source: src, Destination: e.name,
				FileInfo: &files.ContentFileInfo{Mode: os.FileMode(e.mode), MTime: b.MTime}}
			if strings.HasPrefix(e.name, "/etc/") {
				c.Type = files.TypeConfigNoReplace // a conffile: dpkg asks before replacing local edits
			}
			contents = append(contents, c)
		}
		scripts := nfpm.Scripts{}
		for _, s := range []struct {
			suffix string
			dst    *string
		}{{"postinst", &scripts.PostInstall}, {"prerm", &scripts.PreRemove}, {"postrm", &scripts.PostRemove}} {
			path := filepath.Join(dir, s.suffix)
			if err := os.WriteFile(path, b.file("deb/"+p.name+"."+s.suffix), 0o755); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBuild, err)
			}
			*s.dst = path
		}
		info := &nfpm.Info{
			Name: p.name, Arch: t.Deb, Platform: "linux", Version: ver, VersionSchema: "none",
			Section: "net", Priority: "optional", Maintainer: Maintainer, Description: p.desc,
			Homepage: "https://tether.example.com/", License: "proprietary", MTime: b.MTime,
			Overridables: nfpm.Overridables{
				Depends: p.depends, Contents: contents, Scripts: scripts, Umask: 0o022,
				Deb: nfpm.Deb{Compression: "gzip"},
			},
		}
		info = nfpm.WithDefaults(info)
		if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBuild, p.name, err)
		}
		path := filepath.Join(b.Out, fmt.Sprintf("%s_%s_%s.deb", p.name, ver, t.Deb))
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBuild, err)
		}
		err = deb.Default.Package(info, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%w: package %s: %v", ErrBuild, p.name, err)
		}
		out = append(out, path)
	}
	return out, nil
}

// overridesFor keeps the lintian overrides that apply to arch: a line after
// a "# only: ARCH..." comment is kept for those architectures alone (an
// override that does not match is itself a lintian tag, unused-override).
func overridesFor(text []byte, arch string) []byte {
	var out []string
	var only []string
	for _, l := range strings.Split(string(text), "\n") {
		if rest, ok := strings.CutPrefix(l, "# only:"); ok {
			only = strings.Fields(rest)
			continue
		}
		if only != nil && !strings.HasPrefix(l, "#") {
			keep := slices.Contains(only, arch)
			only = nil
			if !keep {
				continue
			}
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}
