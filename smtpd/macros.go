package smtpd

import (
	"strconv"
	"sync"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// macro is one of the Sendmail macros the server computes.
type macro uint8

// The macros, by their canonical names (filter.CanonicalMacro).
const (
	mJ          macro = iota // j
	mDaemonName              // daemon_name
	mV                       // v
	mDaemonAddr              // daemon_addr
	mDaemonPort              // daemon_port
	mUnderscore              // _
	mClientAddr              // client_addr
	mClientPort              // client_port
	mClientName              // client_name
	mClientPtr               // client_ptr
	mTLSVersion              // tls_version
	mCipher                  // cipher
	mCipherBits              // cipher_bits
	mAuthType                // auth_type
	mAuthAuthen              // auth_authen
	mAuthAuthor              // auth_author
	mI                       // i
	mMailAddr                // mail_addr
	mMailHost                // mail_host
	mMailMailer              // mail_mailer
	mRcptAddr                // rcpt_addr
	mRcptHost                // rcpt_host
	mRcptMailer              // rcpt_mailer
	numMacros
)

// macroByName returns the macro of a canonical name; false for one the
// server does not compute.
func macroByName(name string) (macro, bool) {
	switch name {
	case "j":
		return mJ, true
	case "daemon_name":
		return mDaemonName, true
	case "v":
		return mV, true
	case "daemon_addr":
		return mDaemonAddr, true
	case "daemon_port":
		return mDaemonPort, true
	case "_":
		return mUnderscore, true
	case "client_addr":
		return mClientAddr, true
	case "client_port":
		return mClientPort, true
	case "client_name":
		return mClientName, true
	case "client_ptr":
		return mClientPtr, true
	case "tls_version":
		return mTLSVersion, true
	case "cipher":
		return mCipher, true
	case "cipher_bits":
		return mCipherBits, true
	case "auth_type":
		return mAuthType, true
	case "auth_authen":
		return mAuthAuthen, true
	case "auth_author":
		return mAuthAuthor, true
	case "i":
		return mI, true
	case "mail_addr":
		return mMailAddr, true
	case "mail_host":
		return mMailHost, true
	case "mail_mailer":
		return mMailMailer, true
	case "rcpt_addr":
		return mRcptAddr, true
	case "rcpt_host":
		return mRcptHost, true
	case "rcpt_mailer":
		return mRcptMailer, true
	}
	return 0, false
}

// macroBits is a set of macros.
type macroBits uint32

func bits(ms ...macro) macroBits {
	var b macroBits
	for _, m := range ms {
		b |= 1 << m
	}
	return b
}

// The macros each setter computes.
const (
	allMacros    = macroBits(1<<numMacros - 1)
	serverMacros = 1<<mJ | 1<<mDaemonName | 1<<mV | 1<<mDaemonAddr | 1<<mDaemonPort
	clientMacros = 1<<mUnderscore | 1<<mClientAddr | 1<<mClientPort | 1<<mClientName | 1<<mClientPtr
	tlsMacros    = 1<<mTLSVersion | 1<<mCipher | 1<<mCipherBits
	authMacros   = 1<<mAuthType | 1<<mAuthAuthen
	mailMacros   = 1<<mAuthAuthor | 1<<mI | 1<<mMailAddr | 1<<mMailHost | 1<<mMailMailer
	rcptMacros   = 1<<mRcptAddr | 1<<mRcptHost | 1<<mRcptMailer
)

// macroSet is the filter.Macros a session gives its filter session: the
// Sendmail macros Postfix sends, updated before each stage is called.
//
// Only the macros the filter asks for are computed (filter.Needs.Macros,
// all stages together: a value, once set, reflects the session's state
// until the next change, so a macro asked for at one stage may be read at
// a later one). A filter whose Needs.Macros is nil gets every macro; a
// session without a filter gets none. {rcpt_mailer} is kept whenever
// there is a filter: a chain and the milter client tell a recipient the
// server refused by it.
type macroSet struct {
	mu   sync.Mutex
	want macroBits // computed; fixed when the session (re)starts
	have macroBits // set now
	vals [numMacros]string
}

func newMacroSet() *macroSet { return &macroSet{want: allMacros} }

// wantMacros returns the macros a session with filter flt computes.
func wantMacros(flt filter.Filter) macroBits {
	if flt == nil {
		return 0
	}
	names := flt.Needs().Macros
	if names == nil {
		return allMacros
	}
	want := bits(mRcptMailer)
	for _, list := range names {
		for _, n := range list {
			if m, ok := macroByName(filter.CanonicalMacro(n)); ok {
				want |= 1 << m
			}
		}
	}
	return want
}

// Macro implements filter.Macros.
func (ms *macroSet) Macro(name string) (string, bool) {
	m, ok := macroByName(filter.CanonicalMacro(name))
	if !ok {
		return "", false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.have&(1<<m) == 0 {
		return "", false
	}
	return ms.vals[m], true
}

// wants reports whether any macro of b is computed.
func (ms *macroSet) wants(b macroBits) bool { return ms.want&b != 0 }

// put sets m to v when m is computed. The caller holds mu.
func (ms *macroSet) put(m macro, v string) {
	if ms.want&(1<<m) != 0 {
		ms.vals[m] = v
		ms.have |= 1 << m
	}
}

// clear removes the macros of b.
func (ms *macroSet) clear(b macroBits) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for m := range numMacros {
		if b&(1<<m) != 0 {
			ms.vals[m] = ""
		}
	}
	ms.have &^= b
}

// setConnMacros chooses the macros the filter wants, then sets the
// connection macros: server facts and the client. It is called on a new
// macroSet, before the filter session opens.
func (s *session) setConnMacros() {
	ms := s.macros
	want := wantMacros(s.opts.Filter)
	ms.mu.Lock()
	ms.want = want
	if ms.wants(serverMacros) {
		ms.put(mJ, s.opts.Hostname)
		ms.put(mDaemonName, s.opts.DaemonName)
		ms.put(mV, "sluice")
	}
	ms.mu.Unlock()
	dest := s.who.Dest
	switch {
	case !ms.wants(bits(mDaemonAddr, mDaemonPort)):
	case dest.IsValid():
		ms.mu.Lock()
		ms.put(mDaemonAddr, dest.Addr().String())
		ms.put(mDaemonPort, strconv.Itoa(int(dest.Port())))
		ms.mu.Unlock()
	default:
		ms.clear(bits(mDaemonAddr, mDaemonPort))
	}
	if s.wantClientMacros() {
		s.setClientMacros(s.client())
	}
}

// wantClientMacros reports whether setClientMacros has anything to do.
func (s *session) wantClientMacros() bool { return s.macros.wants(clientMacros) }

// setClientMacros sets the macros describing client c.
func (s *session) setClientMacros(c envelope.Conn) {
	if !s.wantClientMacros() {
		return
	}
	name := hostName(c.ClientName)
	addr, port := "", ""
	if c.ClientAddr.IsValid() {
		addr, port = c.ClientAddr.Addr().String(), strconv.Itoa(int(c.ClientAddr.Port()))
	}
	ptr := s.ptr
	if ptr == "" || s.xc != (xclientSet{}) || s.fwd != nil {
		ptr = name // the unverified name is only known for the socket's client
	}
	ms := s.macros
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.wants(bits(mUnderscore)) {
		ms.put(mUnderscore, name+" ["+addr+"]")
	}
	ms.put(mClientAddr, addr)
	ms.put(mClientPort, port)
	ms.put(mClientName, name)
	ms.put(mClientPtr, ptr)
}

// setTLSMacros sets {tls_version}, {cipher} and {cipher_bits}.
func (s *session) setTLSMacros() {
	ms := s.macros
	if !ms.wants(tlsMacros) {
		return
	}
	t := s.tlsInfo()
	if t == nil {
		ms.clear(tlsMacros)
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.put(mTLSVersion, t.Version)
	ms.put(mCipher, t.Cipher)
	ms.put(mCipherBits, strconv.Itoa(t.CipherBits))
}

// setAuthMacros sets {auth_type} and {auth_authen}.
func (s *session) setAuthMacros() {
	ms := s.macros
	if !ms.wants(authMacros) {
		return
	}
	c := s.client()
	if c.AuthLogin == "" {
		ms.clear(authMacros)
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.put(mAuthType, c.AuthMech)
	ms.put(mAuthAuthen, c.AuthLogin)
}

// setMailMacros sets the macros of a new transaction. {auth_author} is
// the AUTH parameter as kept (keepAuthor), when it names a mailbox.
func (s *session) setMailMacros(id string, from envelope.Address) {
	ms := s.macros
	if !ms.wants(mailMacros) {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.put(mI, id)
	ms.put(mMailAddr, from.Addr)
	ms.put(mMailHost, envelope.Domain(from.Addr))
	ms.put(mMailMailer, "smtp")
	if v, ok := from.Param("AUTH"); ok && v != nullAuthor {
		ms.put(mAuthAuthor, v)
	}
}

// setQueueID sets i, after a filter replaced the body and so the draft.
func (s *session) setQueueID(id string) {
	s.macros.mu.Lock()
	defer s.macros.mu.Unlock()
	s.macros.put(mI, id)
}

// setRcptMacros sets the macros of a recipient the server accepted.
func (s *session) setRcptMacros(to string) {
	ms := s.macros
	if !ms.wants(rcptMacros) {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.put(mRcptAddr, to)
	ms.put(mRcptHost, envelope.Domain(to))
	ms.put(mRcptMailer, "smtp")
}

// setRejectedRcptMacros sets the macros of a recipient the server refused,
// as Postfix does for filters that want those: mailer "error", the
// enhanced code as host and the reply text as address.
func (s *session) setRejectedRcptMacros(e *Error) {
	ms := s.macros
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.put(mRcptAddr, e.Message)
	ms.put(mRcptHost, e.Enhanced)
	ms.put(mRcptMailer, "error")
}

// clearTxMacros removes the transaction's macros.
func (s *session) clearTxMacros() {
	if s.macros.have&(mailMacros|rcptMacros) != 0 {
		s.macros.clear(mailMacros | rcptMacros)
	}
}
