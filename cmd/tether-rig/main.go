// Command tether-rig boots the emulated board (a minimal kernel under qemu)
// and runs Go test binaries built with the rig tag inside it.
//
//	tether-rig -arch x86_64 [-run regex] [-timeout 10m] [-q] ./gpio ./media/...
//
// With no packages it runs every package that has a rig-tagged test. It
// exits 0 when every guest test binary passed, 1 when one failed, 2 when
// the rig itself could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tether/board/rig"
)

func main() {
	arch := flag.String("arch", "x86_64", "guest architecture: x86_64 or arm64")
	run := flag.String("run", "", "run only guest tests matching this regex (-test.run)")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on the boot and every guest test together")
	quiet := flag.Bool("q", false, "do not stream the serial console")
	noInstall := flag.Bool("no-install", false, "do not apt-get install missing packages")
	flag.Parse()

	a, err := rig.ParseArch(*arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var console io.Writer = os.Stdout
	if *quiet {
		console = nil
	}
	res, err := rig.Run(ctx, rig.Options{
		Arch: a, Packages: flag.Args(), Run: *run, Timeout: *timeout,
		NoInstall: *noInstall, Console: console,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	os.Exit(report(os.Stdout, res, err, *quiet))
}

// report prints the timings and one line per guest binary, and returns the
// exit code. With the console not streamed, failing binaries' output is
// printed here.
func report(w io.Writer, res *rig.Result, err error, quiet bool) int {
	if res != nil {
		kernel := "cached"
		if res.KernelTime > 0 {
			kernel = res.KernelTime.Round(time.Second).String()
		}
		fmt.Fprintf(w, "rig %s: kernel build %s, test build %s, initramfs %d MB, boot %s, guest tests %s\n",
			res.Arch, kernel, res.TestBuild.Round(100*time.Millisecond), res.InitramfsLen>>20,
			res.BootTime.Round(100*time.Millisecond), res.GuestTime.Round(100*time.Millisecond))
		for _, p := range res.Packages {
			status := "ok  "
			if !p.Passed() {
				status = "FAIL"
			}
			fmt.Fprintf(w, "%s %s (exit %d)\n", status, p.ImportPath, p.Exit)
		}
		if quiet {
			for _, p := range res.Failed() {
				fmt.Fprintf(w, "--- output of %s ---\n%s", p.ImportPath, p.Output)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-rig:", err)
		return 2
	}
	if !res.Passed() {
		return 1
	}
	return 0
}
