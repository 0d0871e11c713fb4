package v4l2m2m

import (
	"fmt"
	"path/filepath"
	"sort"

	"tether/media/v4l2"
)

// Info describes a mem2mem node found by Probe.
type Info struct {
	Path, Driver, Card string
	MPlane             bool
	Coded, Raw         []uint32 // CAPTURE and OUTPUT formats
}

// Probe checks whether dev is a stateful mem2mem encoder producing coded
// (dev-encoder.rst "Querying capabilities": VIDIOC_QUERYCAP has
// V4L2_CAP_VIDEO_M2M(_MPLANE) and VIDIOC_ENUM_FMT on CAPTURE lists the coded
// format). It returns ErrNotEncoder otherwise; the caller closes dev.
func Probe(dev v4l2.Device, coded uint32) (Info, error) {
	var outT, capT v4l2.BufType
	var info Info
	c, _, err := queues(dev, ErrNotEncoder, &info.MPlane, &outT, &capT)
	info.Driver, info.Card = c.DriverName(), c.CardName()
	if err != nil {
		return info, err
	}
	if info.Coded, err = enumFormats(dev, capT); err != nil {
		return info, err
	}
	if info.Raw, err = enumFormats(dev, outT); err != nil {
		return info, err
	}
	for _, f := range info.Coded {
		if f == coded {
			return info, nil
		}
	}
	return info, fmt.Errorf("%w: %s CAPTURE has no %s", ErrNotEncoder, info.Driver, v4l2.FourccString(coded))
}

func enumFormats(dev v4l2.Device, t v4l2.BufType) ([]uint32, error) {
	var out []uint32
	for i := uint32(0); i < 64; i++ {
		d := v4l2.FmtDesc{Index: i, Type: t}
		if err := dev.EnumFmt(&d); err != nil {
			if gone(err) {
				return out, wrap("VIDIOC_ENUM_FMT", err)
			}
			break
		}
		out = append(out, d.PixelFormat)
	}
	return out, nil
}

// Find scans /dev/video* for an encoder of coded, optionally only from
// driver (e.g. "bcm2835-codec", "vicodec"; empty matches any), and returns
// the first match in path order.
func Find(coded uint32, driver string) (Info, error) {
	return find("/dev/video*", v4l2.Open, coded, driver)
}

func find(glob string, open func(string) (v4l2.Device, error), coded uint32, driver string) (Info, error) {
	paths, _ := filepath.Glob(glob)
	sort.Strings(paths)
	for _, p := range paths {
		dev, err := open(p)
		if err != nil {
			continue
		}
		info, err := Probe(dev, coded)
		_ = dev.Close()
		if err == nil && (driver == "" || info.Driver == driver) {
			info.Path = p
			return info, nil
		}
	}
	return Info{}, fmt.Errorf("%w: no %s encoder among %d nodes", ErrNotEncoder, v4l2.FourccString(coded), len(paths))
}

// queues reads VIDIOC_QUERYCAP and sets the node's queue types: the
// multi-planar ones when the driver offers V4L2_CAP_VIDEO_M2M_MPLANE, else
// the single-planar ones; a node without either is notM2M. Both the
// encoder's and the decoder's "Querying capabilities" start here.
func queues(dev v4l2.Device, notM2M error, mplane *bool, out, capt *v4l2.BufType) (v4l2.Capability, uint32, error) {
	var c v4l2.Capability
	if err := dev.QueryCap(&c); err != nil {
		return c, 0, wrap("VIDIOC_QUERYCAP", err)
	}
	caps := c.Caps()
	switch {
	case caps&v4l2.CapVideoM2MMPlane != 0:
		*mplane = true
		*out, *capt = v4l2.BufTypeVideoOutputMPlane, v4l2.BufTypeVideoCaptureMPlane
	case caps&v4l2.CapVideoM2M != 0:
		*mplane = false
		*out, *capt = v4l2.BufTypeVideoOutput, v4l2.BufTypeVideoCapture
	default:
		return c, caps, fmt.Errorf("%w: %s (%s) has no M2M capability (caps %#x)", notM2M, c.DriverName(), c.CardName(), caps)
	}
	return c, caps, nil
}
