package setup

import "errors"

// Sentinel errors.
var (
	// ErrConfig: New was given an incomplete Config (the error names the field).
	ErrConfig = errors.New("setup: bad config")
	// ErrInvalidCredentials may be wrapped by the Login func when the hub
	// answered 401 invalid_credentials (protocol.md "Login"); the page then
	// says "wrong username or password" instead of a generic failure.
	ErrInvalidCredentials = errors.New("invalid_credentials")
	// ErrInvalidInput is wrapped by every *FieldError.
	ErrInvalidInput = errors.New("invalid input")
)

// FieldError is a rejected form field: the page shows Msg next to Field and
// nothing is stored.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if l, ok := fieldLabels[e.Field]; ok {
		return l + " " + e.Msg
	}
	return e.Field + ": " + e.Msg
}

// fieldLabels name the form fields as the page labels them, so an error
// reads "Bitrate must be ..." rather than "bitrate: must be ...".
var fieldLabels = map[string]string{
	"password": "Password", "confirm": "The repeated password", "hubUrl": "Hub URL",
	"username": "Username", "room": "Room", "camera": "Camera", "microphone": "Microphone",
	"resolution": "Resolution", "fps": "Frame rate", "bitrate": "Bitrate", "body": "The form",
	"speaker": "Speaker", "volume": "Volume", "display": "Screen",
}

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

func fieldErr(field, msg string) error { return &FieldError{Field: field, Msg: msg} }
