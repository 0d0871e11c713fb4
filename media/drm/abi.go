package drm

import "unsafe"

// ioctl request encoding, include/uapi/asm-generic/ioctl.h (the same on
// x86-64, arm64 and arm); DRM's type is 'd' (include/uapi/drm/drm.h).
const (
	iocW  uint32 = 1 << 30
	iocR  uint32 = 2 << 30
	iocRW        = iocR | iocW
	iocD  uint32 = 'd' << 8
)

func iowr(nr uint32, size uintptr) uint32 { return iocRW | uint32(size)<<16 | iocD | nr }

// The ioctls of drm.h we use. Sizes come from the Go mirrors, so a wrong
// mirror shows up twice in abi_test.go.
var (
	ioctlGetCap          = iowr(0x0c, unsafe.Sizeof(getCap{}))
	ioctlSetClientCap    = iocW | uint32(unsafe.Sizeof(getCap{}))<<16 | iocD | 0x0d
	ioctlModeGetRes      = iowr(0xa0, unsafe.Sizeof(cardRes{}))
	ioctlModeGetCRTC     = iowr(0xa1, unsafe.Sizeof(modeCRTC{}))
	ioctlModeSetCRTC     = iowr(0xa2, unsafe.Sizeof(modeCRTC{}))
	ioctlModeGetEncoder  = iowr(0xa6, unsafe.Sizeof(getEncoder{}))
	ioctlModeGetConn     = iowr(0xa7, unsafe.Sizeof(getConnector{}))
	ioctlModeGetProperty = iowr(0xaa, unsafe.Sizeof(getProperty{}))
	ioctlModeAddFB       = iowr(0xae, unsafe.Sizeof(fbCmd{}))
	ioctlModeRmFB        = iowr(0xaf, unsafe.Sizeof(uint32(0)))
	ioctlModePageFlip    = iowr(0xb0, unsafe.Sizeof(pageFlip{}))
	ioctlModeCreateDumb  = iowr(0xb2, unsafe.Sizeof(createDumb{}))
	ioctlModeMapDumb     = iowr(0xb3, unsafe.Sizeof(mapDumb{}))
	ioctlModeDestroyDumb = iowr(0xb4, unsafe.Sizeof(uint32(0)))
	ioctlModeObjGetProps = iowr(0xb9, unsafe.Sizeof(objGetProps{}))
	ioctlModeAtomic      = iowr(0xbc, unsafe.Sizeof(atomicReq{}))
)

// Capabilities (DRM_IOCTL_GET_CAP) and client capabilities
// (DRM_IOCTL_SET_CLIENT_CAP), drm.h.
const (
	capDumbBuffer              = 0x1
	clientCapUniversalPlanes   = 2
	clientCapAtomic            = 3
	clientCapWritebackConnects = 5
)

// Connector facts, drm_mode.h.
const (
	connected              = 1
	connectorTypeWriteback = 18
	modeTypePreferred      = 1 << 3
	objectConnector        = 0xc0c0c0c0
	pageFlipEvent          = 0x01
	atomicAllowModeset     = 0x0400
	eventFlipComplete      = 0x02
)

// fourccXRGB8888 is DRM_FORMAT_XRGB8888 (drm_fourcc.h): little-endian
// B, G, R, X bytes per pixel.
const fourccXRGB8888 = uint32('X') | uint32('R')<<8 | uint32('2')<<16 | uint32('4')<<24

// getCap is struct drm_get_cap (and, same layout, drm_set_client_cap).
type getCap struct {
	Capability uint64
	Value      uint64
}

// cardRes is struct drm_mode_card_res.
type cardRes struct {
	FBIDPtr, CRTCIDPtr, ConnectorIDPtr, EncoderIDPtr   uint64
	CountFBs, CountCRTCs, CountConnectors, CountEncode uint32
	MinWidth, MaxWidth, MinHeight, MaxHeight           uint32
}

// ModeInfo is struct drm_mode_modeinfo.
type ModeInfo struct {
	Clock                                         uint32
	HDisplay, HSyncStart, HSyncEnd, HTotal, HSkew uint16
	VDisplay, VSyncStart, VSyncEnd, VTotal, VScan uint16
	VRefresh, Flags, Type                         uint32
	Name                                          [32]byte
}

// modeCRTC is struct drm_mode_crtc.
type modeCRTC struct {
	SetConnectorsPtr uint64
	CountConnectors  uint32
	CRTCID, FBID     uint32
	X, Y             uint32
	GammaSize        uint32
	ModeValid        uint32
	Mode             ModeInfo
}

// getEncoder is struct drm_mode_get_encoder.
type getEncoder struct {
	EncoderID, EncoderType, CRTCID, PossibleCRTCs, PossibleClones uint32
}

// getConnector is struct drm_mode_get_connector.
type getConnector struct {
	EncodersPtr, ModesPtr, PropsPtr, PropValuesPtr uint64
	CountModes, CountProps, CountEncoders          uint32
	EncoderID, ConnectorID                         uint32
	ConnectorType, ConnectorTypeID                 uint32
	Connection, MMWidth, MMHeight, Subpixel, Pad   uint32
}

// getProperty is struct drm_mode_get_property.
type getProperty struct {
	ValuesPtr, EnumBlobPtr uint64
	PropID, Flags          uint32
	Name                   [32]byte
	CountValues            uint32
	CountEnumBlobs         uint32
}

// fbCmd is struct drm_mode_fb_cmd (DRM_IOCTL_MODE_ADDFB).
type fbCmd struct {
	FBID, Width, Height, Pitch, BPP, Depth, Handle uint32
}

// pageFlip is struct drm_mode_crtc_page_flip.
type pageFlip struct {
	CRTCID, FBID, Flags, Reserved uint32
	UserData                      uint64
}

// createDumb is struct drm_mode_create_dumb.
type createDumb struct {
	Height, Width, BPP, Flags, Handle, Pitch uint32
	Size                                     uint64
}

// mapDumb is struct drm_mode_map_dumb.
type mapDumb struct {
	Handle, Pad uint32
	Offset      uint64
}

// objGetProps is struct drm_mode_obj_get_properties (28 bytes of fields,
// padded to 32 by its u64 members' alignment on every GOARCH we ship:
// arm EABI aligns u64 to 8 as well).
type objGetProps struct {
	PropsPtr, PropValuesPtr uint64
	CountProps, ObjID       uint32
	ObjType                 uint32
	_                       uint32
}

// atomicReq is struct drm_mode_atomic.
type atomicReq struct {
	Flags, CountObjs                              uint32
	ObjsPtr, CountPropsPtr, PropsPtr, PropValsPtr uint64
	Reserved, UserData                            uint64
}

// eventVblank is struct drm_event_vblank as read(2) from the card.
type eventVblank struct {
	Type, Length           uint32
	UserData               uint64
	TvSec, TvUsec, Seq, ID uint32
}
