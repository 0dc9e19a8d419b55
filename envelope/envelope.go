package envelope

import (
	"net/netip"
	"strings"
	"time"
)

// Family is the address family of a client connection, as the milter
// protocol distinguishes it.
type Family byte

// Address families. The values are the milter protocol's SMFIA_* characters.
const (
	FamilyUnknown Family = 'U'
	FamilyUnix    Family = 'L'
	FamilyInet    Family = '4'
	FamilyInet6   Family = '6'
)

// Conn is what is known about a client connection. The SMTP engine fills it
// from the socket, TLS and AUTH, XCLIENT may override the client fields, and
// the milter server fills it from what the MTA sends.
type Conn struct {
	ID         string         // sluice's connection ID, for logs
	Hostname   string         // our host name (macro j)
	ClientName string         // client host name from reverse DNS, or "[addr]" (macro _ and {client_name})
	ClientAddr netip.AddrPort // client address and port; invalid when unknown (unix sockets)
	ClientPath string         // client socket path for unix connections
	Family     Family
	HELO       string // HELO/EHLO argument
	Proto      string // SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP...
	TLS        *TLSInfo
	AuthLogin  string // authenticated user name, empty when not authenticated
	AuthMech   string
	Started    time.Time
}

// TLSInfo describes the TLS state of a connection for Received headers and
// the {tls_version}, {cipher} and {cipher_bits} macros.
type TLSInfo struct {
	Version    string // e.g. "TLSv1.3"
	Cipher     string // e.g. "TLS_AES_128_GCM_SHA256"
	CipherBits int
	ServerName string
}

// Address is a mailbox with the ESMTP parameters of the MAIL or RCPT command
// that named it. Params keeps keyword order as received: keywords are
// upper-cased, values verbatim ("" for a keyword without a value).
type Address struct {
	Addr   string // without angle brackets; "" is the null sender
	Params []Param
}

// Param is one ESMTP parameter (RFC 5321 §4.1.2 esmtp-param).
type Param struct {
	Key   string
	Value string
}

// Param returns the value of the ESMTP parameter key (case-insensitive) and
// whether it is present.
func (a Address) Param(key string) (string, bool) {
	for _, p := range a.Params {
		if strings.EqualFold(p.Key, key) {
			return p.Value, true
		}
	}
	return "", false
}

// ParamString renders the parameters as they appear on the wire,
// space-separated: "SIZE=100 BODY=8BITMIME".
func (a Address) ParamString() string {
	var b strings.Builder
	for i, p := range a.Params {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.Key)
		if p.Value != "" {
			b.WriteByte('=')
			b.WriteString(p.Value)
		}
	}
	return b.String()
}

// ParseParams splits ESMTP parameters ("SIZE=100 BODY=8BITMIME") into a
// list, upper-casing keywords. It does not validate keywords or values.
func ParseParams(s string) []Param {
	var out []Param
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		out = append(out, Param{Key: strings.ToUpper(k), Value: v})
	}
	return out
}

// Domain returns the part after the last '@' of addr, or "" when there is
// none.
func Domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// Envelope is one transaction: a sender and its recipients.
type Envelope struct {
	QueueID    string
	From       Address
	Recipients []Address
}
