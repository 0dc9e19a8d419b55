package smtpd

import (
	"strconv"
	"sync"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// macroSet is the filter.Macros a session gives its filter session: the
// Sendmail macros Postfix sends, updated before each stage is called.
type macroSet struct {
	mu sync.Mutex
	m  filter.MacroMap
}

func newMacroSet() *macroSet { return &macroSet{m: filter.MacroMap{}} }

// Macro implements filter.Macros.
func (ms *macroSet) Macro(name string) (string, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.m.Macro(name)
}

// set stores name, value pairs.
func (ms *macroSet) set(pairs ...string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i := 0; i+1 < len(pairs); i += 2 {
		ms.m.Set(pairs[i], pairs[i+1])
	}
}

func (ms *macroSet) unset(names ...string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, n := range names {
		delete(ms.m, filter.CanonicalMacro(n))
	}
}

// setConnMacros sets the connection macros: server facts and the client.
func (s *session) setConnMacros() {
	dest := s.who.Dest
	s.macros.set(
		"j", s.opts.Hostname,
		"{daemon_name}", s.opts.DaemonName,
		"v", "sluice",
	)
	if dest.IsValid() {
		s.macros.set("{daemon_addr}", dest.Addr().String(), "{daemon_port}", strconv.Itoa(int(dest.Port())))
	} else {
		s.macros.unset("{daemon_addr}", "{daemon_port}")
	}
	s.setClientMacros(s.client())
}

// setClientMacros sets the macros describing client c.
func (s *session) setClientMacros(c envelope.Conn) {
	name := hostName(c.ClientName)
	addr, port := "", ""
	if c.ClientAddr.IsValid() {
		addr, port = c.ClientAddr.Addr().String(), strconv.Itoa(int(c.ClientAddr.Port()))
	}
	ptr := s.ptr
	if ptr == "" || s.xc != (xclientSet{}) || s.fwd != nil {
		ptr = name // the unverified name is only known for the socket's client
	}
	s.macros.set(
		"_", name+" ["+addr+"]",
		"{client_addr}", addr,
		"{client_port}", port,
		"{client_name}", name,
		"{client_ptr}", ptr,
	)
}

// setTLSMacros sets {tls_version}, {cipher} and {cipher_bits}.
func (s *session) setTLSMacros() {
	t := s.tlsInfo()
	if t == nil {
		s.macros.unset("{tls_version}", "{cipher}", "{cipher_bits}")
		return
	}
	s.macros.set("{tls_version}", t.Version, "{cipher}", t.Cipher, "{cipher_bits}", strconv.Itoa(t.CipherBits))
}

// setAuthMacros sets {auth_type} and {auth_authen}.
func (s *session) setAuthMacros() {
	c := s.client()
	if c.AuthLogin == "" {
		s.macros.unset("{auth_type}", "{auth_authen}")
		return
	}
	s.macros.set("{auth_type}", c.AuthMech, "{auth_authen}", c.AuthLogin)
}

// setMailMacros sets the macros of a new transaction.
func (s *session) setMailMacros(id string, from envelope.Address) {
	s.macros.set(
		"i", id,
		"{mail_addr}", from.Addr,
		"{mail_host}", envelope.Domain(from.Addr),
		"{mail_mailer}", "smtp",
	)
	if v, ok := from.Param("AUTH"); ok {
		s.macros.set("{auth_author}", v)
	}
}

// setRcptMacros sets the macros of a recipient the server accepted.
func (s *session) setRcptMacros(to string) {
	s.macros.set("{rcpt_addr}", to, "{rcpt_host}", envelope.Domain(to), "{rcpt_mailer}", "smtp")
}

// setRejectedRcptMacros sets the macros of a recipient the server refused,
// as Postfix does for filters that want those: mailer "error", the
// enhanced code as host and the reply text as address.
func (s *session) setRejectedRcptMacros(e *Error) {
	s.macros.set("{rcpt_addr}", e.Message, "{rcpt_host}", e.Enhanced, "{rcpt_mailer}", "error")
}

// clearTxMacros removes the transaction's macros.
func (s *session) clearTxMacros() {
	s.macros.unset("i", "{mail_addr}", "{mail_host}", "{mail_mailer}", "{auth_author}",
		"{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}")
}
