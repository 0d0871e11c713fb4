package setup

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"tether/store"
)

// The form decoders take whatever a browser (or anyone on the LAN) posts.
// Each fuzz target checks: no panic, every rejection is a *FieldError naming
// a field, and every accepted value is within the documented bounds.

func checkRejection(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field == "" || fe.Msg == "" || !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("rejection %v is not a FieldError with a field", err)
	}
}

func FuzzDecodeSettings(f *testing.F) {
	for _, s := range []string{
		"hubUrl=https%3A%2F%2Fhub.example&room=r1&camera=%2Fdev%2Fvideo0&resolution=1280x720&fps=30&bitrate=2500",
		"resolution=1920x1080&bitrate=20000",
		"resolution=1281x720", "fps=0", "bitrate=-1", "bitrate=1&bitrate=2",
		"hubUrl=http%3A%2F%2F%5B%3A%3A1%5D%3A8080%2Fpath%2F", "hubUrl=https%3A%2F%2Fu%3Ap%40h",
		"room=%E2%80%8B", "camera=test&microphone=hw%3A1%2C0", "display=auto&volume=100&speaker=none", "display=%2Fdev%2Fdri%2Fcard0", "resolution=0640x0480", "%zz",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, restrict bool) {
		v, _ := url.ParseQuery(raw)
		var dev Devices
		if restrict {
			dev = Devices{Cameras: []string{"/dev/video0", "test"}, Microphones: []string{"hw:1,0"}}
		}
		form, err := decodeSettings(v, dev)
		if err != nil {
			checkRejection(t, err)
			return
		}
		st := store.Settings{HubURL: form.HubURL, RoomID: form.Room, Camera: form.Camera, Microphone: form.Microphone,
			Speaker: form.Speaker, Volume: form.Volume, Display: form.Display, Width: form.Width, Height: form.Height, FPS: form.FPS, BitrateKbps: form.BitrateKbps}
		if err := st.Validate(); err != nil {
			t.Fatalf("accepted settings the store rejects: %+v: %v", st, err)
		}
		if (form.Width == 0) != (form.Height == 0) || form.Width%2 != 0 || form.Height%2 != 0 ||
			(form.Width != 0 && (form.Width < minWidth || form.Width > maxW || form.Height < minHeight || form.Height > maxH)) {
			t.Fatalf("accepted resolution %dx%d", form.Width, form.Height)
		}
		if form.FPS != 0 && (form.FPS < minFPS || form.FPS > maxFPS) || form.BitrateKbps != 0 && (form.BitrateKbps < minBitrate || form.BitrateKbps > maxBitrate) {
			t.Fatalf("accepted fps %d bitrate %d", form.FPS, form.BitrateKbps)
		}
		if form.HubURL != "" {
			checkHub(t, form.HubURL)
		}
		if strings.ContainsAny(form.Room, " \t\r\n") || len(form.Room) > maxRoom {
			t.Fatalf("accepted room %q", form.Room)
		}
		if restrict && (form.Camera != "" && form.Camera != "/dev/video0" && form.Camera != "test" || form.Microphone != "" && form.Microphone != "hw:1,0") {
			t.Fatalf("accepted a device not in the list: %q %q", form.Camera, form.Microphone)
		}
	})
}

func checkHub(t *testing.T, s string) {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "/") {
		t.Fatalf("accepted hub URL %q (%v)", s, err)
	}
	// Idempotent: the stored value is accepted as it is.
	again, err := checkHubURL("hubUrl", s, true)
	if err != nil || again != s {
		t.Fatalf("hub URL %q normalises to %q (%v)", s, again, err)
	}
}

func FuzzDecodeHubLogin(f *testing.F) {
	for _, s := range []string{
		"hubUrl=https%3A%2F%2Fhub.example&username=counter1&password=pw",
		"hubUrl=https%3A%2F%2Fhub.example&username=%20&password=pw",
		"hubUrl=hub.example&username=a&password=b",
		"hubUrl=https%3A%2F%2Fhub.example%2F%23frag&username=a&password=b",
		"username=a&username=b", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		form, err := decodeHubLogin(v)
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkHub(t, form.HubURL)
		if form.Username == "" || len(form.Username) > maxUsername || form.Username != strings.TrimSpace(form.Username) || hasControl(form.Username) {
			t.Fatalf("accepted username %q", form.Username)
		}
		if form.Password == "" || len(form.Password) > maxHubPassword || !utf8.ValidString(form.Password) {
			t.Fatalf("accepted password of %d bytes", len(form.Password))
		}
	})
}

func FuzzDecodePasswords(f *testing.F) {
	for _, s := range []string{
		"password=correct+horse&confirm=correct+horse", "password=short&confirm=short",
		"password=aaaaaaaa&confirm=aaaaaaab", "password=%00%00%00%00%00%00%00%00&confirm=%00%00%00%00%00%00%00%00",
		"password=%FF%FE%FD%FC%FB%FA%F9%F8&confirm=%FF%FE%FD%FC%FB%FA%F9%F8", "password=x&password=y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		if pw, err := decodeChoosePassword(v); err != nil {
			checkRejection(t, err)
		} else {
			n := utf8.RuneCountInString(pw)
			if n < minSetupPassword || n > maxSetupPassword || hasControl(pw) || strings.TrimSpace(pw) == "" || pw != v.Get("confirm") {
				t.Fatalf("accepted setup password %q", pw)
			}
		}
		if pw, err := decodeLogin(v); err != nil {
			checkRejection(t, err)
		} else if pw == "" || len(pw) > 4*maxSetupPassword || pw != v.Get("password") {
			t.Fatalf("login accepted %q", pw)
		}
	})
}

func BenchmarkDecodeSettings(b *testing.B) {
	v, _ := url.ParseQuery("hubUrl=https%3A%2F%2Fhub.example&room=r1&camera=%2Fdev%2Fvideo0&resolution=1280x720&fps=30&bitrate=2500")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeSettings(v, Devices{}); err != nil {
			b.Fatal(err)
		}
	}
}
