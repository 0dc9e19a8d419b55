package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Socket is a milter socket address in the syntax Sendmail and Postfix use,
// resolved to what net.Listen and net.Dial take.
type Socket struct {
	// Spec is the address as written, e.g. "inet:8890@127.0.0.1".
	Spec string
	// Network is "unix", "tcp" or "tcp6".
	Network string
	// Address is a path for "unix", host:port otherwise.
	Address string
}

// String returns the address as written.
func (s Socket) String() string { return s.Spec }

// Port returns the TCP port, or 0 for a unix socket.
func (s Socket) Port() int {
	_, p, err := net.SplitHostPort(s.Address)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// ParseSocket parses a milter socket address:
//
//	unix:/path or local:/path   a unix-domain socket
//	inet:port@host              TCP (Sendmail syntax); inet:port alone means every interface
//	inet6:port@host             TCP over IPv6
//	inet:host:port              TCP (Postfix syntax)
//
// Port 0 is accepted (a listener then picks a free port); dialers should
// reject it.
func ParseSocket(spec string) (Socket, error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return Socket{}, fmt.Errorf("bad socket %q (want unix:/path, inet:port@host or inet6:port@host)", spec)
	}
	switch kind {
	case "unix", "local":
		if rest == "" {
			return Socket{}, fmt.Errorf("bad socket %q: empty path", spec)
		}
		return Socket{Spec: spec, Network: "unix", Address: rest}, nil
	case "inet", "inet6":
		addr, err := inetAddress(rest, kind == "inet6")
		if err != nil {
			return Socket{}, fmt.Errorf("bad socket %q: %w", spec, err)
		}
		network := "tcp"
		if kind == "inet6" {
			network = "tcp6"
		}
		return Socket{Spec: spec, Network: network, Address: addr}, nil
	default:
		return Socket{}, fmt.Errorf("bad socket %q: unknown type %q (want unix, local, inet or inet6)", spec, kind)
	}
}

// inetAddress turns "port@host", "port" or "host:port" into host:port.
func inetAddress(s string, v6 bool) (string, error) {
	var host, port string
	if p, h, ok := strings.Cut(s, "@"); ok {
		port, host = p, strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if host == "" {
			return "", errors.New("empty host after @")
		}
	} else if strings.Contains(s, ":") && !v6 {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", err
		}
		host, port = h, p
	} else {
		port = s
	}
	if err := checkPort(port); err != nil {
		return "", err
	}
	if err := checkHost(host); err != nil {
		return "", err
	}
	if v6 && host != "" {
		if a, err := netip.ParseAddr(host); err == nil && !a.Is6() {
			return "", fmt.Errorf("inet6 with IPv4 address %q", host)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// checkPort accepts a decimal port 0..65535.
func checkPort(p string) error {
	if p == "" {
		return errors.New("empty port")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || strings.HasPrefix(p, "+") {
		return fmt.Errorf("bad port %q", p)
	}
	return nil
}

// checkHost accepts "", an IP address or a DNS name.
func checkHost(h string) error {
	if h == "" {
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if !isDomain(h) {
		return fmt.Errorf("bad host %q", h)
	}
	return nil
}

// isDomain reports whether s is a syntactically valid DNS name (letters,
// digits, hyphens and underscores in dot-separated labels of 1..63 bytes;
// one trailing dot allowed).
func isDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !isLabelByte(c) {
				return false
			}
		}
	}
	return true
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// checkHostPort accepts host:port with an optional host ("127.0.0.1:2525",
// "[::1]:25", ":2525", "mail.example.org:25").
func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("bad address %q (want host:port)", s)
	}
	if err := checkPort(p); err != nil {
		return fmt.Errorf("bad address %q: %w", s, err)
	}
	if err := checkHost(h); err != nil {
		return fmt.Errorf("bad address %q: %w", s, err)
	}
	return nil
}

// Target is a parsed downstream address.
type Target struct {
	// Kind is "smtp", "lmtp", "lmtp+unix" or "maildir".
	Kind string
	// Addr is host:port for smtp and lmtp, a path for lmtp+unix and maildir.
	Addr string
}

// ParseTarget parses a downstream address: smtp://host:port,
// lmtp://host:port, lmtp+unix:/path or maildir:/path (relative paths are
// kept as written).
func ParseTarget(s string) (Target, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Target{}, fmt.Errorf("bad downstream %q (want smtp://host:port, lmtp://host:port, lmtp+unix:/path or maildir:/path)", s)
	}
	switch kind {
	case "smtp", "lmtp":
		hp, ok := strings.CutPrefix(rest, "//")
		if !ok {
			return Target{}, fmt.Errorf("bad downstream %q (want %s://host:port)", s, kind)
		}
		if err := checkHostPort(hp); err != nil {
			return Target{}, fmt.Errorf("bad downstream %q: %w", s, err)
		}
		if h, p, _ := net.SplitHostPort(hp); h == "" || p == "0" {
			return Target{}, fmt.Errorf("bad downstream %q: want a host and a non-zero port", s)
		}
		return Target{Kind: kind, Addr: hp}, nil
	case "lmtp+unix", "maildir":
		if rest == "" {
			return Target{}, fmt.Errorf("bad downstream %q: empty path", s)
		}
		return Target{Kind: kind, Addr: rest}, nil
	default:
		return Target{}, fmt.Errorf("bad downstream %q: unknown scheme %q (want smtp, lmtp, lmtp+unix or maildir)", s, kind)
	}
}
