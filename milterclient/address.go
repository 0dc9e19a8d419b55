package milterclient

import (
	"fmt"
	"net"
	"strings"

	"github.com/sluice-mta/sluice/milter"
)

// ParseAddress turns a milter socket address into a network and an
// address for net.Dial:
//
//	unix:/path/to/socket or local:/path  -> "unix", "/path/to/socket"
//	inet:8891@127.0.0.1                  -> "tcp", "127.0.0.1:8891"
//	inet:127.0.0.1:8891 (Postfix syntax) -> "tcp", "127.0.0.1:8891"
//	inet6:8891@::1                       -> "tcp6", "[::1]:8891"
//
// A client needs a host and a non-zero port.
func ParseAddress(addr string) (network, address string, err error) {
	a, err := milter.ParseSocketAddress(addr)
	if err != nil {
		return "", "", err
	}
	switch {
	case a.Kind == "unix":
		return "unix", a.Path, nil
	case a.PortOnly:
		return "", "", fmt.Errorf("milter address %q: want port@host", addr)
	case a.Host == "":
		return "", "", fmt.Errorf("milter address %q: empty host", addr)
	case a.Port == "0" || strings.Trim(a.Port, "0") == "":
		return "", "", fmt.Errorf("milter address %q: bad port %q", addr, a.Port)
	}
	network = "tcp"
	if a.Kind == "inet6" {
		network = "tcp6"
	}
	return network, net.JoinHostPort(a.Host, a.Port), nil
}
