package v4l2m2m

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"tether/media/v4l2"
	"tether/media/v4l2/v4l2fake"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	nodes := map[string]func() *v4l2fake.Fake{
		"video0": func() *v4l2fake.Fake { // a decoder: CAPTURE is raw
			f := v4l2fake.NewFake()
			f.Driver, f.Coded, f.Raw = "dec", []uint32{v4l2.PixFmtNV12}, []uint32{v4l2.PixFmtH264}
			return f
		},
		"video1": nil, // cannot be opened
		"video2": func() *v4l2fake.Fake {
			f := v4l2fake.NewFake()
			f.Driver, f.Coded, f.MPlane = "vicodec", []uint32{v4l2.PixFmtFWHT}, false
			return f
		},
		"video3": func() *v4l2fake.Fake { f := v4l2fake.NewFake(); f.Driver = "bcm2835-codec"; return f },
	}
	for n := range nodes {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	open := func(p string) (v4l2.Device, error) {
		mk := nodes[filepath.Base(p)]
		if mk == nil {
			return nil, syscall.EACCES
		}
		return mk(), nil
	}
	tests := []struct {
		name   string
		coded  uint32
		driver string
		want   string
	}{
		{"h264 any driver", v4l2.PixFmtH264, "", "video3"},
		{"fwht", v4l2.PixFmtFWHT, "", "video2"},
		{"fwht from vicodec", v4l2.PixFmtFWHT, "vicodec", "video2"},
		{"h264 from vicodec", v4l2.PixFmtH264, "vicodec", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := find(filepath.Join(dir, "video*"), open, tt.coded, tt.driver)
			if tt.want == "" {
				if !errors.Is(err, ErrNotEncoder) {
					t.Fatalf("find: %v, %+v", err, info)
				}
				return
			}
			if err != nil || filepath.Base(info.Path) != tt.want {
				t.Fatalf("find: %v, %+v, want %s", err, info, tt.want)
			}
		})
	}
}
