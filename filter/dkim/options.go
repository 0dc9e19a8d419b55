package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// OptionError is an option New refuses. Key names it the way a
// configuration file does, relative to the filter's table:
// "authserv_id", "sign_headers[2]", "keys[1].key_file".
type OptionError struct {
	Key string
	Err error
}

func (e *OptionError) Error() string { return "dkim: " + e.Key + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// errorList collects OptionErrors.
type errorList []error

func (l *errorList) add(key, format string, args ...any) {
	*l = append(*l, &OptionError{Key: key, Err: fmt.Errorf(format, args...)})
}

func (l errorList) join() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	return errors.Join(l...)
}

// check validates what New was given and loads the keys, reporting every
// problem.
func (f *Filter) check(opts Options) error {
	var errs errorList
	if opts.MaxMessageBytes < 0 {
		errs.add("max_message_bytes", "must be >= 0, got %d", opts.MaxMessageBytes)
	}
	if opts.Timeout < 0 {
		errs.add("timeout", "must be >= 0, got %s", opts.Timeout)
	}
	if f.verify {
		f.authservID = opts.AuthservID
		if f.authservID == "" {
			f.authservID = opts.Hostname
		}
		if err := checkToken(f.authservID); err != nil {
			errs.add("authserv_id", "%v", err)
		}
	}
	f.signHeaders = checkSignHeaders(opts.SignHeaders, &errs)
	f.keys = f.loadKeys(opts.Keys, &errs)
	if !f.verify && len(opts.Keys) == 0 {
		errs.add("verify", "verification is off and there are no keys: the filter would do nothing")
	}
	return errs.join()
}

// checkToken accepts an RFC 2045 token: the authserv-id as a bare value.
func checkToken(s string) error {
	if s == "" {
		return errors.New("empty (set it, or the host name)")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return fmt.Errorf("%q: want a host name or another token without spaces or ()<>@,;:\\\"/[]?=", s)
		}
	}
	return nil
}

// checkSignHeaders returns the fields to sign: names as given, each once
// (case-insensitively), From among them.
func checkSignHeaders(names []string, errs *errorList) []string {
	if len(names) == 0 {
		return DefaultSignHeaders
	}
	seen := map[string]bool{}
	for i, n := range names {
		key := fmt.Sprintf("sign_headers[%d]", i)
		lower := strings.ToLower(n)
		switch {
		case !isFieldName(n):
			errs.add(key, "bad header field name %q", n)
		case seen[lower]:
			errs.add(key, "%s is listed twice", n)
		case lower == "dkim-signature":
			errs.add(key, "DKIM-Signature is signed as the signature itself, not as a field")
		}
		seen[lower] = true
	}
	if !seen["from"] {
		errs.add("sign_headers", "must hold From (RFC 6376 §5.4)")
	}
	return names
}

// isFieldName reports whether s is an RFC 5322 field name: printable
// ASCII without colon.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// checkDomain accepts a DNS name of letters, digits, hyphens (and, for
// selectors, underscores), returning it lower-cased without a final dot.
func checkDomain(s string, underscore bool) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q is not a domain name", s)
		}
		for _, c := range []byte(label) {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || underscore && c == '_'
			if !ok {
				return "", fmt.Errorf("%q is not a domain name (letters, digits and hyphens)", s)
			}
		}
	}
	return d, nil
}
