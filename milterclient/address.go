package milterclient

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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
	kind, rest, ok := strings.Cut(addr, ":")
	if !ok {
		return "", "", fmt.Errorf("milter address %q: want unix:/path, inet:port@host or inet6:port@host", addr)
	}
	switch kind {
	case "unix", "local":
		if rest == "" {
			return "", "", fmt.Errorf("milter address %q: empty socket path", addr)
		}
		return "unix", rest, nil
	case "inet", "inet6":
		host, port, err := splitInet(rest)
		if err != nil {
			return "", "", fmt.Errorf("milter address %q: %w", addr, err)
		}
		network = "tcp"
		if kind == "inet6" {
			network = "tcp6"
		}
		return network, net.JoinHostPort(host, port), nil
	}
	return "", "", fmt.Errorf("milter address %q: unknown socket type %q (want unix, local, inet or inet6)", addr, kind)
}

func splitInet(rest string) (host, port string, err error) {
	if p, h, ok := strings.Cut(rest, "@"); ok {
		port, host = p, strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = strings.TrimSuffix(strings.TrimPrefix(rest[:i], "["), "]"), rest[i+1:]
	} else {
		return "", "", fmt.Errorf("want port@host")
	}
	if host == "" {
		return "", "", fmt.Errorf("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	return host, port, nil
}
