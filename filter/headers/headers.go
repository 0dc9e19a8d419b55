package headers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/filter"
)

// maxLine is the longest line a header field may have, without its CRLF
// (RFC 5322 §2.1.1).
const maxLine = 998

// Header is one header field: a name and a value. The value has no leading
// space and keeps folding as CRLF followed by a space or tab.
type Header struct {
	Name  string
	Value string
}

func (h Header) String() string { return h.Name + ": " + h.Value }

// Options configures the filter. The zero value adds and removes nothing.
type Options struct {
	// Add lists the fields appended at end of message, in order.
	Add []Header
	// Remove lists field names (case-insensitive) whose every occurrence is
	// deleted at end of message. A name may appear once.
	Remove []string
}

// Filter adds and removes header fields. It is safe for concurrent use.
type Filter struct {
	add    []Header
	remove []string
	needs  filter.Needs
}

// New validates opts and returns the filter.
func New(opts Options) (*Filter, error) {
	f := &Filter{
		add:    append([]Header(nil), opts.Add...),
		remove: append([]string(nil), opts.Remove...),
	}
	for i, h := range f.add {
		if err := checkHeader(h.Name, h.Value); err != nil {
			return nil, fmt.Errorf("filter/headers: add %d: %w", i+1, err)
		}
	}
	for i, name := range f.remove {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("filter/headers: remove %d: %w", i+1, err)
		}
		for j := range i {
			if strings.EqualFold(f.remove[j], name) {
				return nil, fmt.Errorf("filter/headers: remove %d: %q repeats remove %d", i+1, name, j+1)
			}
		}
	}
	f.needs = f.computeNeeds()
	return f, nil
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "headers" }

// Needs implements filter.Filter: the Header stage only when something is
// to be removed, end of message only when there is anything to do, only
// the edits the configuration makes, and no macros.
func (f *Filter) Needs() filter.Needs { return f.needs }

func (f *Filter) computeNeeds() filter.Needs {
	var used filter.StageSet
	n := filter.Needs{Macros: map[filter.Stage][]string{}}
	if len(f.add) > 0 {
		used |= filter.Stages(filter.StageEndOfMessage)
		n.Edits |= filter.EditAddHeader
	}
	if len(f.remove) > 0 {
		used |= filter.Stages(filter.StageHeader, filter.StageEndOfMessage)
		n.NoReply = filter.Stages(filter.StageHeader)
		n.Edits |= filter.EditChangeHeader
	}
	n.Skip = filter.AllStages &^ used
	return n
}

// NewSession implements filter.Filter.
func (f *Filter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &session{f: f, counts: make([]int, len(f.remove))}, nil
}

// ParseHeader parses a "Name: value" field as written in a configuration
// file. White space after the colon and at the end is dropped; a line
// break (LF or CRLF) followed by a space or tab is kept as CRLF folding.
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, fmt.Errorf("filter/headers: %q is not \"Name: value\"", s)
	}
	if name != strings.TrimRight(name, " \t") {
		return Header{}, fmt.Errorf("filter/headers: %q: white space before the colon", s)
	}
	value = strings.TrimLeft(value, " \t")
	value = strings.TrimRight(value, " \t\r\n")
	value = lfToCRLF(value)
	if err := checkHeader(name, value); err != nil {
		return Header{}, fmt.Errorf("filter/headers: %w", err)
	}
	return Header{Name: name, Value: value}, nil
}

// lfToCRLF turns every LF not preceded by CR into CRLF.
func lfToCRLF(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func checkHeader(name, value string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return fmt.Errorf("header %s: %w", name, err)
	}
	lines := strings.Split(value, "\r\n")
	if n := len(name) + 2 + len(lines[0]); n > maxLine {
		return fmt.Errorf("header %s: first line is %d octets, over %d (RFC 5322 §2.1.1)", name, n, maxLine)
	}
	for _, l := range lines[1:] {
		if len(l) > maxLine {
			return fmt.Errorf("header %s: folded line is %d octets, over %d (RFC 5322 §2.1.1)", name, len(l), maxLine)
		}
	}
	return nil
}

// checkName accepts an RFC 5322 §3.6.8 field name: printable US-ASCII
// except the colon.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 {
			return fmt.Errorf("header name %q: non-ASCII characters not allowed (printable ASCII except colon)", name)
		}
		if c <= ' ' || c == 0x7f || c == ':' {
			return fmt.Errorf("header name %q: character %q not allowed (printable ASCII except colon)", name, c)
		}
	}
	return nil
}

// checkValue accepts UTF-8 text (RFC 6532) with tabs, and CRLF only when
// a space or tab follows (folding) and the folded line is not blank.
func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("value is not valid UTF-8")
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == 0:
			return errors.New("value contains NUL")
		case c == '\r':
			if i+2 >= len(v) || v[i+1] != '\n' || (v[i+2] != ' ' && v[i+2] != '\t') {
				return errors.New("value has CR or LF that is not folding (CRLF then space or tab)")
			}
			if blankLine(v[i+2:]) {
				return errors.New("value has a folded line of only white space")
			}
			i++
		case c == '\n':
			return errors.New("value has CR or LF that is not folding (CRLF then space or tab)")
		case c < ' ' && c != '\t', c == 0x7f:
			return fmt.Errorf("value contains control character %q", c)
		}
	}
	return nil
}

// blankLine reports whether s, up to its first CRLF, is only white space.
func blankLine(s string) bool {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.Trim(s, " \t") == ""
}
