package smtpd

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/xclient"
)

// socketConn is what the socket says of the client.
func (s *session) socketConn() envelope.Conn {
	c := envelope.Conn{ClientAddr: s.peer, Family: envelope.FamilyUnknown}
	switch {
	case s.peer.Addr().Is4():
		c.Family = envelope.FamilyInet
	case s.peer.Addr().Is6():
		c.Family = envelope.FamilyInet6
	}
	return c
}

// lookupName finds the client's host name with forward-confirmed reverse
// DNS: a name whose addresses include the client's. Without a Resolver
// the client has no name. The lookups run on a goroutine of their own:
// the resolver's deep call chain would otherwise grow the session
// goroutine's stack for as long as the connection lasts (about 4 KiB per
// idle connection).
func (s *session) lookupName() {
	r := s.opts.Resolver
	if r == nil || !s.peer.IsValid() {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeouts.DNS)
	defer cancel()
	done := make(chan nameLookup, 1)
	go func() { done <- lookupFCrDNS(ctx, r, s.peer.Addr()) }()
	res := <-done
	s.ptr = res.ptr
	switch {
	case res.err != nil && !res.notFound:
		s.who.Conn.ClientName = xclient.TempUnavail
		s.log.Debug("smtpd: reverse DNS failed", "err", res.err)
	case res.err != nil:
		s.log.Debug("smtpd: reverse DNS failed", "err", res.err)
	case res.name != "":
		s.who.Conn.ClientName = res.name
	}
}

// nameLookup is what lookupFCrDNS found: the confirmed name (or ""), the
// first PTR name, and the reverse lookup's error.
type nameLookup struct {
	name, ptr string
	err       error
	notFound  bool // err says the address has no PTR record
}

// lookupFCrDNS does the reverse lookup of addr, then the forward lookups
// of up to 5 of its names, and returns the first name that leads back.
func lookupFCrDNS(ctx context.Context, r Resolver, addr netip.Addr) nameLookup {
	names, err := r.LookupAddr(ctx, addr.String())
	if err != nil {
		var de *net.DNSError
		return nameLookup{err: err, notFound: errors.As(err, &de) && de.IsNotFound}
	}
	var res nameLookup
	for i, n := range names[:min(len(names), 5)] {
		n = strings.TrimSuffix(n, ".")
		if i == 0 {
			res.ptr = n
		}
		ips, err := r.LookupNetIP(ctx, "ip", n)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Unmap() == addr {
				res.name = n
				return res
			}
		}
	}
	return res
}

// authenticated reports whether the client logged in, with AUTH or as an
// XCLIENT LOGIN says.
func (s *session) authenticated() bool {
	return s.authUser != "" || (s.xc.login && s.who.Conn.AuthLogin != "")
}

// proto is the protocol name for Received and macros (RFC 3848): SMTP
// after HELO, ESMTP after EHLO, with S for TLS and A for AUTH. XCLIENT
// PROTO replaces the base.
func (s *session) proto() string {
	base := "SMTP"
	if s.esmtp {
		base = "ESMTP"
	}
	if s.xc.proto && s.who.Conn.Proto != "" {
		base = s.who.Conn.Proto
	}
	if base == "SMTP" {
		return base
	}
	if s.tlsState != nil {
		base += "S"
	}
	if s.authenticated() {
		base += "A"
	}
	return base
}

// client returns the client as filters, logs and Received see it now.
func (s *session) client() envelope.Conn {
	c := s.who.Conn
	c.ID, c.Hostname, c.Started = s.id, s.opts.Hostname, s.started
	if !s.xc.helo {
		c.HELO = s.helo
	}
	c.Proto = s.proto()
	c.TLS = s.tlsInfo()
	if !s.xc.login {
		c.AuthLogin, c.AuthMech = s.authUser, s.authMech
	}
	if c.ClientName == "" {
		c.ClientName = addrLiteral(c.ClientAddr)
	}
	return c
}

// txClient returns the client of the current transaction: the session's,
// or the one XFORWARD described (what it did not send is unknown).
func (s *session) txClient() envelope.Conn {
	c := s.client()
	if s.fwd == nil {
		return c
	}
	f := s.fwd.Conn
	c.ClientName, c.ClientAddr, c.Family, c.HELO = f.ClientName, f.ClientAddr, f.Family, f.HELO
	if f.Proto != "" {
		c.Proto = f.Proto
	}
	if c.ClientName == "" {
		c.ClientName = addrLiteral(c.ClientAddr)
	}
	return c
}

// addrLiteral is the name of a client without one: "[192.0.2.1]", or
// "unknown" when the address is not known either.
func addrLiteral(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "unknown"
	}
	return "[" + ap.Addr().String() + "]"
}

// hostName returns a client name fit for {client_name} and Received:
// "unknown" for an address literal or a failed lookup.
func hostName(name string) string {
	if name == "" || strings.HasPrefix(name, "[") {
		return "unknown"
	}
	return name
}

// tlsInfo describes the session's TLS, or nil.
func (s *session) tlsInfo() *envelope.TLSInfo {
	cs := s.tlsState
	if cs == nil {
		return nil
	}
	name := cryptotls.CipherSuiteName(cs.CipherSuite)
	bits := 0
	switch {
	case strings.Contains(name, "AES_128"):
		bits = 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		bits = 256
	}
	version := "TLS"
	switch cs.Version {
	case cryptotls.VersionTLS12:
		version = "TLSv1.2"
	case cryptotls.VersionTLS13:
		version = "TLSv1.3"
	}
	return &envelope.TLSInfo{Version: version, Cipher: name, CipherBits: bits, ServerName: cs.ServerName}
}
