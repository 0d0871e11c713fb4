// Package termpw reads a password for the command line: without echo at a
// terminal's prompt, or as one line from a pipe (provisioning scripts).
// The hub's `account add` and `tetherd login` use it.
package termpw

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// MaxLen bounds a password read from a pipe.
const MaxLen = 4096

// ErrNoPassword means nothing was read.
var ErrNoPassword = errors.New("termpw: no password read")

// IsTerminal reports whether in is a terminal (a prompt makes sense).
func IsTerminal(in io.Reader) bool {
	f, ok := in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Read returns one password. When in is a terminal, prompt is written to
// out and the password is read with echo off (the terminal's mode is
// restored afterwards, also on error); otherwise one line is read from in,
// its line ending removed, with nothing written.
func Read(in io.Reader, out io.Writer, prompt string) (string, error) {
	if IsTerminal(in) {
		fmt.Fprint(out, prompt)
		b, err := term.ReadPassword(int(in.(*os.File).Fd()))
		fmt.Fprintln(out) // the Enter the terminal did not echo
		if err != nil {
			return "", fmt.Errorf("termpw: %w", err)
		}
		return string(b), nil
	}
	return readLine(bufio.NewReader(io.LimitReader(in, MaxLen+2)))
}

// ReadConfirmed asks twice at a terminal and fails when the two differ
// (a new password); from a pipe it reads one line.
func ReadConfirmed(in io.Reader, out io.Writer, prompt, again string) (string, error) {
	p1, err := Read(in, out, prompt)
	if err != nil || !IsTerminal(in) {
		return p1, err
	}
	p2, err := Read(in, out, again)
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("termpw: passwords differ")
	}
	return p1, nil
}

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", ErrNoPassword
		}
		return "", fmt.Errorf("termpw: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) > MaxLen {
		return "", fmt.Errorf("termpw: password longer than %d bytes", MaxLen)
	}
	return line, nil
}
