package appliance

import (
	"encoding/json"
	"reflect"
	"testing"

	"tether/store"
)

// The shipped example names every setting and, installed as
// /etc/tether/tetherd.json, resolves exactly as no file at all.
func TestExampleConfig(t *testing.T) {
	ex := ExampleConfig()
	var raw map[string]any
	if err := json.Unmarshal(ex, &raw); err != nil {
		t.Fatalf("example is not JSON: %v\n%s", err, ex)
	}
	for _, s := range settings {
		if _, ok := raw[s.name]; !ok {
			t.Errorf("example lacks %q", s.name)
		}
	}
	if len(raw) != len(settings) {
		t.Errorf("example has %d settings, code has %d", len(raw), len(settings))
	}
	stored := store.Settings{HubURL: "https://stored.example"}
	with, err := resolve(t, nil, nil, string(ex), stored)
	if err != nil {
		t.Fatal(err)
	}
	without, err := resolve(t, nil, nil, "", stored)
	if err != nil {
		t.Fatal(err)
	}
	// Values are identical; only the sources of restated defaults differ.
	with.Sources, without.Sources = nil, nil
	if !reflect.DeepEqual(with, without) {
		t.Errorf("the example changed the result:\n%+v\n%+v", with, without)
	}
	if with.HubURL != "https://stored.example" || with.Camera != "/dev/video0" {
		t.Errorf("lower layers lost: hub %q camera %q", with.HubURL, with.Camera)
	}
}
