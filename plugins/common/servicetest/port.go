package servicetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// RestartablePort returns a loopback port nobody listens on, other than
// those in not, for a server a test stops and starts again on the same port.
//
// The port is chosen below the kernel's ephemeral range when possible:
// while the server is stopped, any process on the machine may be handed a
// port from that range for its own listener or outgoing connection, and the
// restart on the same port would then fail.
func RestartablePort(not ...int) (int, error) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	const floor = 10000
	for range 50 {
		if lo-floor < 1000 {
			break
		}
		p := floor + rand.IntN(lo-floor)
		if contains(not, p) {
			continue
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ln.Close()
			return p, nil
		}
	}
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !contains(not, p) {
			return p, nil
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
