package servicetest

import (
	"fmt"
	"net"
	"testing"
)

func TestRestartablePortIsFreeAndAvoidsTheOthers(t *testing.T) {
	first, err := RestartablePort()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		p, err := RestartablePort(first)
		if err != nil {
			t.Fatal(err)
		}
		if p == first {
			t.Fatalf("port %d returned although excluded", p)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		ln.Close()
	}
}
