package miltersrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// ParseAddress splits a milter socket address as Postfix and Sendmail
// write it into a network and an address for net.Listen or net.Dial:
//
//	unix:/path/to/socket  or  local:/path   -> "unix", "/path/to/socket"
//	inet:8890@127.0.0.1                     -> "tcp4", "127.0.0.1:8890"
//	inet:8890 (all addresses)               -> "tcp4", ":8890"
//	inet6:8890@::1                          -> "tcp6", "[::1]:8890"
//	/path (no prefix)                       -> "unix", "/path"
//
// Postfix's "inet:host:port" form is accepted too.
func ParseAddress(addr string) (network, address string, err error) {
	kind, rest, found := strings.Cut(addr, ":")
	if !found {
		if strings.HasPrefix(addr, "/") {
			return "unix", addr, nil
		}
		return "", "", fmt.Errorf("milter address %q: want unix:/path, inet:port@host or inet6:port@host", addr)
	}
	switch kind {
	case "unix", "local":
		if rest == "" {
			return "", "", fmt.Errorf("milter address %q: empty socket path", addr)
		}
		return "unix", rest, nil
	case "inet", "inet6":
		network = "tcp4"
		if kind == "inet6" {
			network = "tcp6"
		}
		host, port, err := splitInet(rest)
		if err != nil {
			return "", "", fmt.Errorf("milter address %q: %w", addr, err)
		}
		return network, net.JoinHostPort(host, port), nil
	}
	return "", "", fmt.Errorf("milter address %q: unknown socket type %q", addr, kind)
}

func splitInet(rest string) (host, port string, err error) {
	if p, h, ok := strings.Cut(rest, "@"); ok {
		port, host = p, strings.Trim(h, "[]")
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = strings.Trim(rest[:i], "[]"), rest[i+1:]
	} else {
		port = rest
	}
	if port == "" {
		return "", "", errors.New("missing port")
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", "", fmt.Errorf("bad port %q", port)
		}
	}
	return host, port, nil
}

// Listen opens a listener on a milter socket address (see ParseAddress).
// For a unix socket, a stale socket file left by a previous run is removed
// first; any other kind of file at that path is an error.
func Listen(addr string) (net.Listener, error) {
	network, address, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := removeStaleSocket(address); err != nil {
			return nil, err
		}
	}
	return net.Listen(network, address)
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("milter socket %s: exists and is not a socket", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("milter socket %s: another process is listening on it", path)
	}
	return os.Remove(path)
}
