package rig

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// The markers the guest init (init.sh) prints at the start of a console
// line.
const (
	markInit   = "RIG-INIT"
	markBegin  = "RIG-BEGIN"
	markResult = "RIG-RESULT"
	markDone   = "RIG-DONE"
)

// PackageResult is what one guest test binary reported.
type PackageResult struct {
	Name       string // binary name (the package directory with "/" → "_")
	ImportPath string // filled in by Run
	Exit       int    // the binary's exit status; -1 when it never finished
	Output     string // its stdout and stderr (-test.v output)
}

// Passed reports whether the binary exited 0.
func (p PackageResult) Passed() bool { return p.Exit == 0 }

// GuestReport is everything the guest printed, parsed.
type GuestReport struct {
	Init     string          // the fields of the RIG-INIT line ("arch=... kernel=...")
	Packages []PackageResult // in the order they ran
	Done     bool            // RIG-DONE seen: every binary ran
	Console  string          // the whole console, kernel messages included
}

// consoleParser turns console lines into a GuestReport as they arrive.
type consoleParser struct {
	rep     GuestReport
	console strings.Builder
	cur     *PackageResult // binary running now, nil between binaries
	out     strings.Builder
}

// line feeds one console line (without its newline) and returns the marker
// it carried, or "".
func (c *consoleParser) line(l string) string {
	l = strings.TrimRight(l, "\r")
	c.console.WriteString(l)
	c.console.WriteByte('\n')
	word, rest, _ := strings.Cut(l, " ")
	switch word {
	case markInit:
		c.rep.Init = rest
		return markInit
	case markBegin:
		c.finish(-1)
		name := field(rest, "pkg")
		c.cur = &PackageResult{Name: name, Exit: -1}
		return markBegin
	case markResult:
		exit, err := strconv.Atoi(field(rest, "exit"))
		if err != nil {
			exit = -1
		}
		if c.cur == nil || c.cur.Name != field(rest, "pkg") {
			c.finish(-1)
			c.cur = &PackageResult{Name: field(rest, "pkg")}
		}
		c.finish(exit)
		return markResult
	case markDone:
		c.finish(-1)
		c.rep.Done = true
		return markDone
	}
	if c.cur != nil {
		c.out.WriteString(l)
		c.out.WriteByte('\n')
	}
	return ""
}

// finish closes the running binary's record with exit status exit.
func (c *consoleParser) finish(exit int) {
	if c.cur == nil {
		return
	}
	c.cur.Exit = exit
	c.cur.Output = strings.TrimRight(c.out.String(), "\n") + "\n"
	c.rep.Packages = append(c.rep.Packages, *c.cur)
	c.cur = nil
	c.out.Reset()
}

// report returns the report so far; a binary still running is included
// with exit -1.
func (c *consoleParser) report() GuestReport {
	rep := c.rep
	rep.Packages = append([]PackageResult{}, c.rep.Packages...)
	if c.cur != nil {
		p := *c.cur
		p.Output = c.out.String()
		rep.Packages = append(rep.Packages, p)
	}
	rep.Console = c.console.String()
	return rep
}

// field returns the value of key=value in a space-separated list.
func field(s, key string) string {
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ParseConsole parses a whole guest console transcript.
func ParseConsole(r io.Reader) (GuestReport, error) {
	var c consoleParser
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		c.line(sc.Text())
	}
	return c.report(), sc.Err()
}
