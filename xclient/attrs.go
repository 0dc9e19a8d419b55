package xclient

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// Attribute names of XCLIENT and XFORWARD.
const (
	Name     = "NAME"     // client host name (both)
	Addr     = "ADDR"     // client address, IPv6 prefixed with "IPV6:" (both)
	Port     = "PORT"     // client TCP port (both)
	Proto    = "PROTO"    // SMTP or ESMTP for XCLIENT; any protocol name for XFORWARD
	Helo     = "HELO"     // HELO/EHLO argument (both)
	Login    = "LOGIN"    // SASL login name (XCLIENT)
	DestAddr = "DESTADDR" // server address the client connected to (XCLIENT)
	DestPort = "DESTPORT" // server port the client connected to (XCLIENT)
	Ident    = "IDENT"    // the upstream's message identifier (XFORWARD)
	Source   = "SOURCE"   // LOCAL or REMOTE (XFORWARD)
)

// Special values.
const (
	Unavailable = "[UNAVAILABLE]" // the information does not exist or is not known
	TempUnavail = "[TEMPUNAVAIL]" // a name lookup failed temporarily
)

// SOURCE values.
const (
	SourceLocal  = "LOCAL"
	SourceRemote = "REMOTE"
)

// Verbs.
const (
	VerbXClient  = "XCLIENT"
	VerbXForward = "XFORWARD"
)

// Attr is one attribute with its value decoded (not xtext).
type Attr struct {
	Name  string
	Value string
}

// ClientAttrs returns the XCLIENT attributes that describe c: NAME, ADDR,
// PORT, PROTO, HELO and LOGIN, with [UNAVAILABLE] for what is not known.
// PROTO is left out unless c.Proto reduces to SMTP or ESMTP (ESMTPS,
// ESMTPA and ESMTPSA count as ESMTP), since Postfix accepts only those two.
func ClientAttrs(c envelope.Conn) []Attr {
	attrs := []Attr{
		{Name, clientName(c.ClientName)},
		{Addr, clientAddr(c.ClientAddr)},
		{Port, clientPort(c.ClientAddr)},
	}
	if p := xclientProto(c.Proto); p != "" {
		attrs = append(attrs, Attr{Proto, p})
	}
	attrs = append(attrs,
		Attr{Helo, orUnavailable(c.HELO)},
		Attr{Login, orUnavailable(c.AuthLogin)})
	return attrs
}

// ForwardAttrs returns the XFORWARD attributes that describe c and the
// message identified by ident: NAME, ADDR, PORT, PROTO, HELO, IDENT and
// SOURCE (REMOTE for a network client, LOCAL otherwise). IDENT is left out
// when ident is empty.
func ForwardAttrs(c envelope.Conn, ident string) []Attr {
	proto := c.Proto
	if len(proto) > 64 || !printable(proto) {
		proto = ""
	}
	attrs := []Attr{
		{Name, clientName(c.ClientName)},
		{Addr, clientAddr(c.ClientAddr)},
		{Port, clientPort(c.ClientAddr)},
		{Proto, orUnavailable(proto)},
		{Helo, orUnavailable(c.HELO)},
	}
	if ident != "" {
		attrs = append(attrs, Attr{Ident, ident})
	}
	source := SourceRemote
	if !c.ClientAddr.IsValid() || c.ClientPath != "" || c.Family == envelope.FamilyUnix {
		source = SourceLocal
	}
	return append(attrs, Attr{Source, source})
}

// clientName maps a connection's client name to a NAME value: a host name
// as is, [TEMPUNAVAIL] as is, and [UNAVAILABLE] for no name, an address
// literal ("[192.0.2.1]", what sluice records when reverse DNS gave
// nothing), "unknown" (Postfix's word for the same) or anything that is not
// a host name.
func clientName(name string) string {
	switch {
	case name == TempUnavail:
		return TempUnavail
	case name == "" || strings.EqualFold(name, "unknown") || !hostname(name):
		return Unavailable
	}
	return name
}

// hostname reports whether s looks like a DNS host name: letters, digits,
// '-', '_' and '.', at most 255 octets, and not an IP address.
func hostname(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	_, err := netip.ParseAddr(s)
	return err != nil
}

// clientAddr renders an address as ADDR wants it.
func clientAddr(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return Unavailable
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return "IPV6:" + a.String()
}

func clientPort(ap netip.AddrPort) string {
	if !ap.IsValid() || ap.Port() == 0 {
		return Unavailable
	}
	return strconv.Itoa(int(ap.Port()))
}

// xclientProto reduces a protocol name to SMTP or ESMTP, or "".
func xclientProto(p string) string {
	p = strings.ToUpper(p)
	switch {
	case p == "SMTP":
		return "SMTP"
	case strings.HasPrefix(p, "ESMTP"):
		return "ESMTP"
	}
	return ""
}

func orUnavailable(s string) string {
	if s == "" {
		return Unavailable
	}
	return s
}

// printable reports whether s is printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
