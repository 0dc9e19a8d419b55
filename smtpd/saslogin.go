package smtpd

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): the challenges "Username:" and
// "Password:", each answered with the value. An initial response is the
// user name. go-sasl has the client side only.
type loginServer struct {
	check    func(username, password string) error
	username []byte
	step     int
}

func newLoginServer(check func(username, password string) error) sasl.Server {
	return &loginServer{check: check}
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.username = response
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(string(l.username), string(response))
	}
	return nil, false, errors.New("sasl: unexpected LOGIN response")
}
