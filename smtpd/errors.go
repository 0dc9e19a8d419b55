package smtpd

import (
	"errors"
	"strconv"
	"strings"
)

// Error is an SMTP error reply: a 4xx or 5xx code, an RFC 3463 enhanced
// status code of the same class, a message the client may read, and the
// internal cause, which is logged and never sent.
//
// The engine answers every failure with an *Error. A Spool, Draft or
// Authenticator may return one (wrapped or not) to choose the exact reply;
// one whose code and enhanced code do not match is not used.
type Error struct {
	Code     int    // 4xx or 5xx
	Enhanced string // "4.3.1"; its class is the code's first digit
	Message  string // client-safe text; "\n" separates the lines of a multi-line reply
	Err      error  // internal cause, or nil
}

// errorf returns a new Error without a cause.
func errorf(code int, enhanced, message string) *Error {
	return &Error{Code: code, Enhanced: enhanced, Message: message}
}

// because returns a copy of e with cause err.
func (e *Error) because(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// Error implements error: the reply as one line, then the cause.
func (e *Error) Error() string {
	s := strconv.Itoa(e.Code) + " " + e.Enhanced + " " + strings.ReplaceAll(e.Message, "\n", " / ")
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the reply is a 4xx.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// valid reports whether e can be sent: a 4xx or 5xx code, an enhanced
// code of the same class, and text free of CR and NUL.
func (e *Error) valid() bool {
	if e.Code < 400 || e.Code > 599 || strings.ContainsAny(e.Message, "\r\x00") {
		return false
	}
	return enhancedClass(e.Enhanced) == e.Code/100
}

// enhancedClass returns the class of an enhanced status code
// (class.subject.detail, RFC 3463 §2), or -1 when it is malformed.
func enhancedClass(s string) int {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return -1
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || len(p) > 3 || p[0] == '+' {
			return -1
		}
	}
	switch parts[0] {
	case "2":
		return 2
	case "4":
		return 4
	case "5":
		return 5
	}
	return -1
}

// asError returns the *Error in err's chain when it can be sent, else
// fallback with err as its cause.
func asError(err error, fallback *Error) *Error {
	var e *Error
	if errors.As(err, &e) && e.valid() {
		return e
	}
	return fallback.because(err)
}
