// Command tether-dist builds what a shop installs (issue 14): for each
// architecture, static tetherd and tether-hub binaries with the version
// stamped in, release archives, and Debian packages. `make dist` runs it
// after packaging/install-deps has installed the cross compilers and the
// targets' libopus-dev.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"tether/appliance"
	"tether/packaging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tether-dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tether-dist", flag.ContinueOnError)
	version := fs.String("version", "", "version to stamp (make dist passes git describe)")
	out := fs.String("out", "out/dist", "output directory")
	arches := fs.String("arch", "arm64,armhf,amd64", "Debian architectures to build")
	epoch := fs.String("mtime", os.Getenv("SOURCE_DATE_EPOCH"), "file time in archives and packages, Unix seconds (the commit's time)")
	debs := fs.Bool("deb", true, "also build Debian packages")
	example := fs.Bool("example", false, "print the example /etc/tether/tetherd.json and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *example {
		_, err := os.Stdout.Write(appliance.ExampleConfig())
		return err
	}
	if *version == "" {
		return fmt.Errorf("-version is required")
	}
	mtime := time.Unix(0, 0)
	if *epoch != "" {
		s, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-mtime %q: %v", *epoch, err)
		}
		mtime = time.Unix(s, 0)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if *out, err = filepath.Abs(*out); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Archives and packages of an earlier version would be taken for this
	// one's by the checks (make dist-check).
	for _, pat := range []string{"*.deb", "*.tar.gz"} {
		old, _ := filepath.Glob(filepath.Join(*out, pat))
		for _, f := range old {
			os.Remove(f)
		}
	}
	b := &packaging.Builder{Root: root, Out: *out, Version: *version, MTime: mtime.UTC(), Log: os.Stderr}
	for _, a := range strings.Split(*arches, ",") {
		t, err := packaging.TargetByName(a)
		if err != nil {
			return err
		}
		bins, err := b.Build(ctx, t)
		if err != nil {
			return err
		}
		files, err := b.Archives(t, bins, appliance.ExampleConfig())
		if err != nil {
			return err
		}
		if *debs {
			d, err := b.Debs(t, bins, appliance.ExampleConfig())
			if err != nil {
				return err
			}
			files = append(files, d...)
		}
		for _, f := range append([]string{bins.Tetherd, bins.Hub}, files...) {
			st, err := os.Stat(f)
			if err != nil {
				return err
			}
			fmt.Printf("%-60s %6.1f MB\n", f, float64(st.Size())/1e6)
		}
	}
	return nil
}
