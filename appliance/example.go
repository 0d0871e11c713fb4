package appliance

import (
	"bytes"
	"encoding/json"
)

// ExampleConfig is the /etc/tether/tetherd.json that the release archives
// and packages ship (issue 14 §1): every setting, in the order of -h, with
// the code's default where there is one and null where the value comes from
// a lower layer (board profile, setup page, session:verify). A null in the
// file sets nothing, so installing this file changes no behaviour. It is
// generated from settings and defaults so it cannot drift from them.
func ExampleConfig() []byte {
	def := defaults()
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, s := range settings {
		k, _ := json.Marshal(s.name)
		v := []byte("null")
		if d, ok := def[s.name]; ok && d != "" { // "" is "unset": a file holding it would hide the board profile (console)
			v, _ = json.Marshal(d)
		}
		b.WriteString("  ")
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
		if i < len(settings)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes()
}
