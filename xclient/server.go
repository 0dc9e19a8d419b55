package xclient

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
)

// The attribute lists a server advertises after the XCLIENT and XFORWARD
// EHLO keywords: everything ApplyXClient and ApplyXForward accept.
const (
	XClientAttrs  = "NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"
	XForwardAttrs = "NAME ADDR PORT PROTO HELO IDENT SOURCE"
)

// AuthMechXClient is the AuthMech of a login name set by XCLIENT LOGIN, as
// Postfix logs it.
const AuthMechXClient = "XCLIENT"

// Errors of ApplyXClient and ApplyXForward. An SMTP server answers both
// with 501 5.5.4.
var (
	ErrUnknownAttr = errors.New("xclient: unsupported attribute")
	ErrBadValue    = errors.New("xclient: bad attribute value")
)

// Networks lists the networks whose clients may send a command (XCLIENT or
// XFORWARD).
type Networks []netip.Prefix

// Allows reports whether addr lies in one of the networks. An IPv4-mapped
// IPv6 address counts as the IPv4 address; an invalid address is never
// allowed.
func (n Networks) Allows(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range n {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Identity is a client identity as XCLIENT and XFORWARD change it.
//
// Conn carries ClientName, ClientAddr, Family, Proto, HELO, AuthLogin and
// AuthMech; an empty string or an invalid address means unknown. A client
// name that is unknown is left empty: the server shows it as it shows a
// client without reverse DNS. "[TEMPUNAVAIL]" is kept as the name when a
// lookup failed temporarily.
type Identity struct {
	Conn   envelope.Conn
	Dest   netip.AddrPort // XCLIENT DESTADDR and DESTPORT: the server address the client reached
	Ident  string         // XFORWARD IDENT: the upstream's queue ID
	Source string         // XFORWARD SOURCE: SourceLocal, SourceRemote or ""
}

// ApplyXClient applies the attributes of one XCLIENT command (Postfix
// XCLIENT_README): NAME, ADDR, PORT, PROTO (SMTP or ESMTP), HELO, LOGIN,
// DESTADDR and DESTPORT; "[UNAVAILABLE]" and "[TEMPUNAVAIL]" make a value
// unknown. Attributes not named keep their values, except that a new ADDR
// without NAME forgets the name, which belonged to the old address. It
// checks every attribute before changing anything: on error id is as it
// was, and the error matches ErrUnknownAttr or ErrBadValue.
func (id *Identity) ApplyXClient(attrs []Attr) error {
	next := *id
	u := updater{id: &next, verb: VerbXClient}
	for _, a := range attrs {
		var err error
		switch a.Name {
		case Name, Addr, Port, Helo:
			err = u.common(a)
		case Proto:
			err = u.xclientProto(a.Value)
		case Login:
			err = u.login(a.Value)
		case DestAddr:
			u.destAddr, u.destAddrSet, err = parseAddr(a)
			u.destUnknown = !u.destAddrSet
		case DestPort:
			u.destPort, u.destPortSet, err = parsePort(a)
		default:
			err = fmt.Errorf("%w: %s does not take %s", ErrUnknownAttr, VerbXClient, a.Name)
		}
		if err != nil {
			return err
		}
	}
	u.finish()
	*id = next
	return nil
}

// ApplyXForward applies the attributes of one XFORWARD command (Postfix
// XFORWARD_README): NAME, ADDR, PORT, PROTO (any protocol name), HELO,
// IDENT and SOURCE (LOCAL or REMOTE). A server starts from an empty
// Identity for each transaction, so that what the upstream did not send
// is unknown, and applies every XFORWARD command of the transaction in
// turn. Errors are as for ApplyXClient.
func (id *Identity) ApplyXForward(attrs []Attr) error {
	next := *id
	u := updater{id: &next, verb: VerbXForward}
	for _, a := range attrs {
		var err error
		switch a.Name {
		case Name, Addr, Port, Helo:
			err = u.common(a)
		case Proto:
			err = u.forwardProto(a.Value)
		case Ident:
			next.Ident, err = text(a, 255)
		case Source:
			err = u.source(a.Value)
		default:
			err = fmt.Errorf("%w: %s does not take %s", ErrUnknownAttr, VerbXForward, a.Name)
		}
		if err != nil {
			return err
		}
	}
	u.finish()
	*id = next
	return nil
}

// updater collects one command's changes; address and port are combined
// at the end, whatever their order on the line.
type updater struct {
	id                       *Identity
	verb                     string
	nameSet                  bool
	addr, destAddr           netip.Addr
	addrSet, destAddrSet     bool
	port, destPort           uint16
	portSet, destPortSet     bool
	addrUnknown, destUnknown bool
}

func (u *updater) common(a Attr) error {
	var err error
	switch a.Name {
	case Name:
		u.id.Conn.ClientName, err = parseName(a.Value)
		u.nameSet = true
	case Addr:
		u.addr, u.addrSet, err = parseAddr(a)
		u.addrUnknown = !u.addrSet
	case Port:
		u.port, u.portSet, err = parsePort(a)
	case Helo:
		u.id.Conn.HELO, err = text(a, 255)
	}
	return err
}

func (u *updater) xclientProto(v string) error {
	switch p := strings.ToUpper(v); {
	case unknown(v):
		u.id.Conn.Proto = ""
	case p == "SMTP" || p == "ESMTP":
		u.id.Conn.Proto = p
	default:
		return fmt.Errorf("%w: PROTO must be SMTP or ESMTP, not %q", ErrBadValue, v)
	}
	return nil
}

func (u *updater) forwardProto(v string) error {
	if unknown(v) {
		u.id.Conn.Proto = ""
		return nil
	}
	if len(v) > 64 || !printable(v) {
		return fmt.Errorf("%w: PROTO %q", ErrBadValue, v)
	}
	u.id.Conn.Proto = v
	return nil
}

func (u *updater) login(v string) error {
	s, err := text(Attr{Login, v}, 255)
	if err != nil {
		return err
	}
	u.id.Conn.AuthLogin, u.id.Conn.AuthMech = s, ""
	if s != "" {
		u.id.Conn.AuthMech = AuthMechXClient
	}
	return nil
}

func (u *updater) source(v string) error {
	switch s := strings.ToUpper(v); {
	case unknown(v):
		u.id.Source = ""
	case s == SourceLocal || s == SourceRemote:
		u.id.Source = s
	default:
		return fmt.Errorf("%w: SOURCE must be LOCAL or REMOTE, not %q", ErrBadValue, v)
	}
	return nil
}

// finish combines addresses and ports into the identity.
func (u *updater) finish() {
	c := &u.id.Conn
	if u.addrSet || u.addrUnknown {
		port := c.ClientAddr.Port()
		c.ClientAddr, c.Family = netip.AddrPort{}, envelope.FamilyUnknown
		if u.addrSet {
			c.ClientAddr = netip.AddrPortFrom(u.addr, port)
			c.Family = envelope.FamilyInet6
			if u.addr.Is4() {
				c.Family = envelope.FamilyInet
			}
		}
		if !u.nameSet {
			c.ClientName = ""
		}
	}
	if u.portSet && c.ClientAddr.IsValid() {
		c.ClientAddr = netip.AddrPortFrom(c.ClientAddr.Addr(), u.port)
	}
	d := &u.id.Dest
	if u.destAddrSet {
		*d = netip.AddrPortFrom(u.destAddr, d.Port())
	} else if u.destUnknown {
		*d = netip.AddrPort{}
	}
	if u.destPortSet && d.IsValid() {
		*d = netip.AddrPortFrom(d.Addr(), u.destPort)
	}
}

func unknown(v string) bool {
	return strings.EqualFold(v, Unavailable) || strings.EqualFold(v, TempUnavail)
}

// parseName checks a NAME value: a host name, or unknown.
func parseName(v string) (string, error) {
	switch {
	case strings.EqualFold(v, TempUnavail):
		return TempUnavail, nil
	case strings.EqualFold(v, Unavailable) || strings.EqualFold(v, "unknown"):
		return "", nil
	case !hostname(v) || strings.Trim(v, ".") == "":
		return "", fmt.Errorf("%w: NAME %q is not a host name", ErrBadValue, v)
	}
	return strings.TrimSuffix(v, "."), nil
}

// parseAddr checks an ADDR or DESTADDR value: an IPv4 address, or an IPv6
// address with or without the "IPV6:" prefix. ok is false for unknown.
func parseAddr(a Attr) (addr netip.Addr, ok bool, err error) {
	if unknown(a.Value) {
		return netip.Addr{}, false, nil
	}
	v := a.Value
	if len(v) > 5 && strings.EqualFold(v[:5], "IPV6:") {
		v = v[5:]
	}
	addr, err = netip.ParseAddr(v)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false, fmt.Errorf("%w: %s %q is not an IP address", ErrBadValue, a.Name, a.Value)
	}
	return addr.Unmap(), true, nil
}

// parsePort checks a PORT or DESTPORT value. ok is false for unknown.
func parsePort(a Attr) (port uint16, ok bool, err error) {
	if unknown(a.Value) {
		return 0, true, nil
	}
	n, err := strconv.ParseUint(a.Value, 10, 16)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s %q is not a port number", ErrBadValue, a.Name, a.Value)
	}
	return uint16(n), true, nil
}

// text checks a free-text value (HELO, LOGIN, IDENT): at most max octets
// of UTF-8 without spaces or control characters. Unknown gives "".
func text(a Attr, max int) (string, error) {
	v := a.Value
	if unknown(v) {
		return "", nil
	}
	if len(v) > max || !utf8.ValidString(v) {
		return "", fmt.Errorf("%w: %s is longer than %d octets or not UTF-8", ErrBadValue, a.Name, max)
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("%w: %s contains a space or control character", ErrBadValue, a.Name)
		}
	}
	return v, nil
}
