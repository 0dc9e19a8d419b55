package smtpclient

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// gsBackend is a go-smtp server backend that records what it receives and
// answers as the test's hooks say. Hooks are set before the server starts.
type gsBackend struct {
	rcpt     func(to string) error         // reply to RCPT; nil accepts
	data     func(n int) error             // reply to the n-th DATA (from 1); nil accepts
	lmtp     func(rcpt string) error       // LMTP per-recipient reply; nil accepts
	dataWait func()                        // runs inside Data before replying
	auth     func(user, pass string) error // credentials check; nil: no AUTH offered

	mu        sync.Mutex
	msgs      []gsMessage
	dataCalls int
	sessions  int
	active    int
	maxActive int
}

// gsMessage is one transaction as the server saw it.
type gsMessage struct {
	From     string
	Mail     smtp.MailOptions
	To       []string
	Rcpt     []smtp.RcptOptions
	Data     []byte
	TLS      bool
	AuthUser string
}

func (b *gsBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions++
	b.active++
	b.maxActive = max(b.maxActive, b.active)
	return &gsSession{be: b, conn: c}, nil
}

// snapshot returns the counters and a copy of the messages.
func (b *gsBackend) snapshot() (msgs []gsMessage, sessions, active, maxActive int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]gsMessage(nil), b.msgs...), b.sessions, b.active, b.maxActive
}

type gsSession struct {
	be   *gsBackend
	conn *smtp.Conn
	cur  gsMessage
	user string
}

func (s *gsSession) Reset() { s.cur = gsMessage{} }

func (s *gsSession) Logout() error {
	s.be.mu.Lock()
	s.be.active--
	s.be.mu.Unlock()
	return nil
}

func (s *gsSession) Mail(from string, opts *smtp.MailOptions) error {
	s.cur = gsMessage{From: from, AuthUser: s.user}
	if opts != nil {
		s.cur.Mail = *opts
	}
	return nil
}

func (s *gsSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.be.rcpt != nil {
		if err := s.be.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.To = append(s.cur.To, to)
	if opts == nil {
		opts = &smtp.RcptOptions{}
	}
	s.cur.Rcpt = append(s.cur.Rcpt, *opts)
	return nil
}

// read takes the content and numbers the DATA command.
func (s *gsSession) read(r io.Reader) (int, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	s.cur.Data = data
	_, s.cur.TLS = s.conn.TLSConnectionState()
	if s.be.dataWait != nil {
		s.be.dataWait()
	}
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.dataCalls++
	return s.be.dataCalls, nil
}

func (s *gsSession) store() {
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.cur)
	s.be.mu.Unlock()
}

func (s *gsSession) Data(r io.Reader) error {
	n, err := s.read(r)
	if err != nil {
		return err
	}
	if s.be.data != nil {
		if err := s.be.data(n); err != nil {
			return err
		}
	}
	s.store()
	return nil
}

func (s *gsSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if _, err := s.read(r); err != nil {
		return err
	}
	for _, rcpt := range s.cur.To {
		var err error
		if s.be.lmtp != nil {
			err = s.be.lmtp(rcpt)
		}
		status.SetStatus(rcpt, err)
	}
	s.store()
	return nil
}

func (s *gsSession) AuthMechanisms() []string {
	if s.be.auth == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *gsSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if err := s.be.auth(user, pass); err != nil {
			return err
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	user  []byte
	step  int
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case l.step == 0 && resp == nil:
		l.step = 1
		return []byte("Username:"), false, nil
	case l.step <= 1:
		l.user, l.step = resp, 2
		return []byte("Password:"), false, nil
	case l.step == 2:
		l.step = 3
		return nil, true, l.check(string(l.user), string(resp))
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

// syncBuffer is a bytes.Buffer safe for the server's Debug writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGoSMTP serves be on a loopback port (or on the unix socket path
// when network is "unix") and returns the address and the server's
// protocol log. cfg adjusts the server before it starts.
func startGoSMTP(t *testing.T, be *gsBackend, network, path string, cfg func(*smtp.Server)) (string, *syncBuffer) {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "gosmtp.test"
	s.ReadTimeout = testTimeout
	s.WriteTimeout = testTimeout
	s.MaxRecipients = 100
	s.ErrorLog = testLogger{t}
	debug := &syncBuffer{}
	s.Debug = debug
	if cfg != nil {
		cfg(s)
	}
	var l net.Listener
	var err error
	if network == "unix" {
		l, err = net.Listen("unix", path)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Error("go-smtp server did not stop")
		}
	})
	return l.Addr().String(), debug
}

// testLogger sends go-smtp's error log to the test log.
type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("go-smtp: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"go-smtp:"}, v...)...) }
