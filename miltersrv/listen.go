package miltersrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/milter"
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
	if strings.HasPrefix(addr, "/") {
		return "unix", addr, nil
	}
	a, err := milter.ParseSocketAddress(addr)
	if err != nil {
		return "", "", err
	}
	switch a.Kind {
	case "unix":
		return "unix", a.Path, nil
	case "inet6":
		return "tcp6", net.JoinHostPort(a.Host, a.Port), nil
	}
	return "tcp4", net.JoinHostPort(a.Host, a.Port), nil
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
