package rig

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bootResult is what one qemu run produced.
type bootResult struct {
	report   GuestReport
	bootTime time.Duration // qemu start → RIG-INIT
	testTime time.Duration // RIG-INIT → RIG-DONE (or the end)
}

// qemuArgs returns the qemu command line: TCG (KVM on this class of host
// hangs stock kernels), no default devices and no NIC (but Options.Net), the serial console
// on stdio, and -no-reboot so the guest's `reboot -f` (or a panic, with
// panic=-1) ends qemu. netArgs (qemuNetArgs) add the one NIC when asked.
func qemuArgs(s archSpec, kernel, initrd string, cpus, memMB int, netArgs ...string) []string {
	args := []string{"-accel", "tcg"}
	args = append(args, s.machine...)
	args = append(args,
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(memMB),
		"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console="+s.console+" panic=-1 quiet rdinit=/init",
	)
	return append(args, netArgs...)
}

// boot runs qemu until the guest reboots, ctx ends or timeout passes, and
// parses the console. console, when set, receives every console line as it
// arrives. qemu is killed on every path out.
func boot(ctx context.Context, s archSpec, kernel, initrd string, timeout time.Duration, console io.Writer, netArgs []string) (bootResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.qemu, qemuArgs(s, kernel, initrd, 2, 1024, netArgs...)...)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return bootResult{}, fmt.Errorf("rig: qemu: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return bootResult{}, fmt.Errorf("rig: qemu: %w", err)
	}

	var (
		p        consoleParser
		res      bootResult
		initAt   time.Time
		doneAt   time.Time
		wg       sync.WaitGroup
		scanErr  error
		doneOnce sync.Once
	)
	// After RIG-DONE the guest only syncs and reboots; should qemu linger,
	// this timer ends it.
	var linger *time.Timer
	wg.Add(1)
	go func() { // reads the console until qemu closes it
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			l := sc.Text()
			if console != nil {
				fmt.Fprintln(console, strings.TrimRight(l, "\r"))
			}
			switch p.line(l) {
			case markInit:
				initAt = time.Now()
			case markDone:
				doneAt = time.Now()
				doneOnce.Do(func() { linger = time.AfterFunc(30*time.Second, cancel) })
			}
		}
		scanErr = sc.Err()
	}()
	wg.Wait()
	waitErr := cmd.Wait()
	if linger != nil {
		linger.Stop()
	}

	res.report = p.report()
	if !initAt.IsZero() {
		res.bootTime = initAt.Sub(start)
		end := doneAt
		if end.IsZero() {
			end = time.Now()
		}
		res.testTime = end.Sub(initAt)
	}
	if res.report.Done {
		return res, nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("%w after %s", ErrTimeout, timeout)
	case ctx.Err() != nil:
		return res, fmt.Errorf("rig: qemu: %w", ctx.Err())
	}
	return res, fmt.Errorf("%w: qemu exited (%v, console error %v): %s\nconsole tail:\n%s",
		ErrGuestIncomplete, waitErr, scanErr, strings.TrimSpace(stderr.String()), tail(res.report.Console, 30))
}
