package xclient

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLine is the longest XCLIENT or XFORWARD command line, CRLF included
// (RFC 5321 §4.5.3.1.4, which XCLIENT_README and XFORWARD_README cite).
const MaxLine = 512

// Supported returns the attributes whose names appear in advertised, the
// parameters of the XCLIENT or XFORWARD EHLO keyword ("NAME ADDR PROTO
// HELO"), compared without regard to case, in their original order.
func Supported(attrs []Attr, advertised string) []Attr {
	names := strings.Fields(advertised)
	var out []Attr
	for _, a := range attrs {
		for _, n := range names {
			if strings.EqualFold(n, a.Name) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// Commands renders attrs as verb command lines (without CRLF), each within
// MaxLine with its CRLF, keeping the order and putting as many attributes on
// a line as fit. It fails when an attribute alone does not fit or a name is
// not a valid attribute name.
func Commands(verb string, attrs []Attr) ([]string, error) {
	var lines []string
	var line strings.Builder
	for _, a := range attrs {
		if !validName(a.Name) {
			return nil, fmt.Errorf("xclient: bad attribute name %q", a.Name)
		}
		item := " " + strings.ToUpper(a.Name) + "=" + EncodeXtext(a.Value)
		if len(verb)+len(item)+2 > MaxLine {
			return nil, fmt.Errorf("xclient: attribute %s is too long for one %s command", a.Name, verb)
		}
		if line.Len() > 0 && line.Len()+len(item)+2 > MaxLine {
			lines = append(lines, line.String())
			line.Reset()
		}
		if line.Len() == 0 {
			line.WriteString(verb)
		}
		line.WriteString(item)
	}
	if line.Len() > 0 {
		lines = append(lines, line.String())
	}
	return lines, nil
}

// ErrSyntax reports arguments that are not attribute=value pairs.
var ErrSyntax = errors.New("xclient: attribute=value expected")

// Parse parses the arguments of an XCLIENT or XFORWARD command (the text
// after the verb, "NAME=mx.example ADDR=192.0.2.1"): attribute names are
// upper-cased, values xtext-decoded. Names are not checked against a list;
// the caller decides what it supports. Pairs may be separated by several
// spaces; a pair without "=", with an empty name or value, or with a value
// that is not xtext is an error.
func Parse(args string) ([]Attr, error) {
	fields := strings.Split(args, " ")
	var attrs []Attr
	for _, f := range fields {
		if f == "" {
			continue
		}
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("%w: %q", ErrSyntax, f)
		}
		if !validName(name) {
			return nil, fmt.Errorf("%w: bad attribute name %q", ErrSyntax, name)
		}
		v, err := DecodeXtext(value)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", strings.ToUpper(name), err)
		}
		attrs = append(attrs, Attr{Name: strings.ToUpper(name), Value: v})
	}
	if len(attrs) == 0 {
		return nil, ErrSyntax
	}
	return attrs, nil
}

// validName reports whether s can be an attribute name: letters, digits,
// '_' and '-' (REVERSE_NAME is one of Postfix's).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
