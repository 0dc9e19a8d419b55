package milter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SocketAddress is a milter socket address as Postfix and Sendmail write
// it: "unix:/path" (or "local:/path"), "inet:port@host", "inet6:port@host";
// Postfix's "inet:host:port" is accepted too.
type SocketAddress struct {
	Kind string // "unix", "inet" or "inet6"
	Path string // for unix
	Host string // for inet and inet6, without brackets; "" when not given
	Port string // for inet and inet6: decimal, 0-65535
	// PortOnly is set when the address gave a port and no host at all
	// ("inet:8890"), which a listener may take as "every address".
	PortOnly bool
}

// ParseSocketAddress parses a milter socket address. The server and the
// client each add their own rules (a client needs a host and a port
// above 0).
func ParseSocketAddress(addr string) (SocketAddress, error) {
	kind, rest, found := strings.Cut(addr, ":")
	if !found {
		return SocketAddress{}, fmt.Errorf("milter address %q: want unix:/path, inet:port@host or inet6:port@host", addr)
	}
	switch kind {
	case "unix", "local":
		if rest == "" {
			return SocketAddress{}, fmt.Errorf("milter address %q: empty socket path", addr)
		}
		return SocketAddress{Kind: "unix", Path: rest}, nil
	case "inet", "inet6":
		a, err := splitInet(rest)
		if err != nil {
			return SocketAddress{}, fmt.Errorf("milter address %q: %w", addr, err)
		}
		a.Kind = kind
		return a, nil
	}
	return SocketAddress{}, fmt.Errorf("milter address %q: unknown socket type %q (want unix, local, inet or inet6)", addr, kind)
}

func splitInet(rest string) (SocketAddress, error) {
	var a SocketAddress
	if p, h, ok := strings.Cut(rest, "@"); ok {
		a.Port, a.Host = p, h
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		a.Host, a.Port = rest[:i], rest[i+1:]
	} else {
		a.Port, a.PortOnly = rest, true
	}
	a.Host = strings.TrimSuffix(strings.TrimPrefix(a.Host, "["), "]")
	if a.Port == "" {
		return a, errors.New("missing port")
	}
	if n, err := strconv.Atoi(a.Port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(a.Port, "+-") {
		return a, fmt.Errorf("bad port %q", a.Port)
	}
	return a, nil
}
