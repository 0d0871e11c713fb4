//go:build !linux

package appliance

// accessRW is not checked off Linux: the device nodes are Linux's.
func accessRW(string) error { return nil }
