package siotest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// ClusterServer is the official socket.io server with the official Redis
// adapter (testdata/node/cluster.js): one node of a Socket.IO cluster on a
// redis-server the test started (issue 17).
type ClusterServer struct {
	p    *proc
	port int
}

// ClusterOptions say where the cluster's Redis is.
type ClusterOptions struct {
	// RedisPath is the redis-server's unix socket; RedisPort its loopback
	// TCP port when RedisPath is empty.
	RedisPath string
	RedisPort int
	// Key is the adapter's channel prefix (default "socket.io").
	Key string
}

// StartClusterServer starts cluster.js and waits until it listens and its
// adapter is subscribed. It is killed in t.Cleanup; t skips without node.
func StartClusterServer(t testing.TB, o ClusterOptions) *ClusterServer {
	t.Helper()
	node, dir := requireNode(t)
	arg, _ := json.Marshal(map[string]any{"redisPath": o.RedisPath, "redisPort": o.RedisPort, "key": o.Key})
	ready := make(chan int, 1)
	p, err := startProc(t, node, dir, "cluster.js", string(arg), "cluster: ", func(line []byte) {
		var m struct {
			Ready bool `json:"ready"`
			Port  int  `json:"port"`
		}
		if json.Unmarshal(line, &m) == nil && m.Ready {
			select {
			case ready <- m.Port:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	select {
	case port := <-ready:
		return &ClusterServer{p: p, port: port}
	case <-p.done:
		t.Fatalf("siotest: cluster.js exited: %v", p.exitErr)
	case <-time.After(readyTimeout):
		t.Fatal("siotest: cluster.js not ready in time")
	}
	return nil
}

// URL is the server's base URL.
func (s *ClusterServer) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// Pid is the node process's id (RSS measurements).
func (s *ClusterServer) Pid() int { return s.p.cmd.Process.Pid }

// Kill kills the server (SIGKILL).
func (s *ClusterServer) Kill() { s.p.kill() }
