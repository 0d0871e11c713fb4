package rig

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValues(t *testing.T) {
	in := "# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x=y\"\nCONFIG_A=m\n\nCONFIG_D=0x10\n"
	got, err := ConfigValues(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CONFIG_A": "m", "CONFIG_B": "n", "CONFIG_C": `"x=y"`, "CONFIG_D": "0x10"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestVerifyConfig(t *testing.T) {
	frag := map[string]string{"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "y"}
	tests := []struct {
		name  string
		final map[string]string
		bad   []string
	}{
		{"all kept", map[string]string{"CONFIG_A": "y", "CONFIG_C": "y", "CONFIG_X": "y"}, nil},
		{"unset stays unset", map[string]string{"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "y"}, nil},
		{"dropped", map[string]string{"CONFIG_A": "y"}, []string{"CONFIG_C (want y, got n)"}},
		{"module", map[string]string{"CONFIG_A": "m", "CONFIG_C": "y"}, []string{"CONFIG_A (want y, got m)"}},
		{"selected back", map[string]string{"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": "y"}, []string{"CONFIG_B (want not set, got y)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyConfig(frag, tt.final)
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfigDropped) {
				t.Fatalf("error %v, want ErrConfigDropped", err)
			}
			for _, b := range tt.bad {
				if !strings.Contains(err.Error(), b) {
					t.Errorf("error %q does not name %q", err, b)
				}
			}
		})
	}
}

func TestFragments(t *testing.T) {
	// The symbols the drivers under test need, and each arch's console.
	need := map[Arch][]string{
		X86_64: {"CONFIG_SERIAL_8250_CONSOLE", "CONFIG_ACPI"},
		ARM64:  {"CONFIG_SERIAL_AMBA_PL011_CONSOLE", "CONFIG_ARM_AMBA"},
	}
	common := []string{"CONFIG_GPIO_SIM", "CONFIG_GPIO_CDEV", "CONFIG_VIDEO_VIVID", "CONFIG_VIDEO_VICODEC",
		"CONFIG_SND_ALOOP", "CONFIG_DRM_VKMS", "CONFIG_NET_NS", "CONFIG_VETH", "CONFIG_NET_SCH_NETEM",
		"CONFIG_NETFILTER_XT_MATCH_STATISTIC", "CONFIG_BLK_DEV_INITRD", "CONFIG_DEVTMPFS", "CONFIG_CONFIGFS_FS"}
	keys := map[string]bool{}
	for _, a := range Arches {
		t.Run(string(a), func(t *testing.T) {
			frag, err := Fragment(a)
			if err != nil {
				t.Fatal(err)
			}
			vals, err := ConfigValues(strings.NewReader(string(frag)))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(need[a], common...) {
				if vals[s] != "y" {
					t.Errorf("%s = %q in the %s fragment, want y", s, vals[s], a)
				}
			}
			for s, v := range vals {
				if v != "y" && v != "n" {
					t.Errorf("%s=%s: fragments set only =y or 'is not set' (no modules)", s, v)
				}
			}
			k := kernelKey(a, "6.1.192-2", frag)
			if k != kernelKey(a, "6.1.192-2", frag) {
				t.Error("kernel key is not stable")
			}
			if k == kernelKey(a, "6.1.193-1", frag) || k == kernelKey(a, "6.1.192-2", append(frag, '#')) {
				t.Error("kernel key ignores the source version or the fragment")
			}
			keys[k] = true
		})
	}
	if len(keys) != len(Arches) {
		t.Error("two arches share a kernel key")
	}
	if _, err := Fragment("riscv"); !errors.Is(err, ErrUnsupportedArch) {
		t.Errorf("Fragment(riscv) error %v, want ErrUnsupportedArch", err)
	}
}

func TestParseArch(t *testing.T) {
	for in, want := range map[string]Arch{"x86_64": X86_64, "amd64": X86_64, "arm64": ARM64, "aarch64": ARM64} {
		if got, err := ParseArch(in); err != nil || got != want {
			t.Errorf("ParseArch(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseArch("mips"); !errors.Is(err, ErrUnsupportedArch) {
		t.Errorf("ParseArch(mips) error %v", err)
	}
}

func TestQemuArgs(t *testing.T) {
	for _, a := range Arches {
		s, _ := a.spec()
		args := strings.Join(qemuArgs(s, "/k", "/i", 2, 1024), " ")
		for _, want := range []string{"-accel tcg", "-no-reboot", "-serial stdio", "-nodefaults", "-kernel /k", "-initrd /i", "console=" + s.console, "panic=-1"} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: qemu args %q lack %q", a, args, want)
			}
		}
	}
}
