package milter

import (
	"reflect"
	"strings"
	"testing"
)

func TestNewReplyCode(t *testing.T) {
	tests := []struct {
		code     int
		enhanced string
		lines    []string
		want     string
	}{
		{550, "5.7.1", []string{"go away"}, "550 5.7.1 go away"},
		{451, "", []string{"try later"}, "451 4.0.0 try later"},
		{554, "5.7.0", nil, "554 5.7.0"},
		{550, "5.7.1", []string{"first", "second", "third"},
			"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third"},
		{421, "4.3.2", []string{""}, "421 4.3.2"},
	}
	for _, tt := range tests {
		r, err := NewReplyCode(tt.code, tt.enhanced, tt.lines...)
		if err != nil {
			t.Errorf("NewReplyCode(%d, %q, %q): %v", tt.code, tt.enhanced, tt.lines, err)
			continue
		}
		if r.Text != tt.want {
			t.Errorf("NewReplyCode(%d, %q, %q) = %q, want %q", tt.code, tt.enhanced, tt.lines, r.Text, tt.want)
		}
		if err := ValidateReplyText(r.Text); err != nil {
			t.Errorf("built text %q does not validate: %v", r.Text, err)
		}
	}
}

func TestNewReplyCodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		enhanced string
		lines    []string
	}{
		{"2xx code", 250, "2.0.0", nil},
		{"6xx code", 600, "", nil},
		{"class mismatch", 550, "4.7.1", nil},
		{"bad enhanced", 550, "5.7", nil},
		{"enhanced too long part", 550, "5.7.1234", nil},
		{"CRLF in line", 550, "5.7.1", []string{"a\r\n550 5.7.1 b"}},
		{"LF in line", 550, "5.7.1", []string{"a\nb"}},
		{"NUL in line", 550, "5.7.1", []string{"a\x00b"}},
		{"line too long", 550, "5.7.1", []string{strings.Repeat("x", MaxReplyLine)}},
	}
	for _, tt := range tests {
		if r, err := NewReplyCode(tt.code, tt.enhanced, tt.lines...); err == nil {
			t.Errorf("%s: got %q, want an error", tt.name, r.Text)
		}
	}
}

func TestValidateReplyText(t *testing.T) {
	good := []string{
		"550 5.7.1 go away",
		"450 4.2.0",
		"421 4.3.2 shutting down",
		"550-5.7.1 a\r\n550 5.7.1 b",
		"550-5.7.1 a\r\n550-b\r\n550 c", // later lines need no enhanced code
		"550 5.7.100 three-digit detail",
	}
	for _, s := range good {
		if err := ValidateReplyText(s); err != nil {
			t.Errorf("ValidateReplyText(%q): %v", s, err)
		}
	}
	bad := []string{
		"",
		"250 2.0.0 ok",
		"550",
		"550 go away",                // no enhanced code: Postfix rejects this
		"550 4.7.1 wrong class",      // class mismatch
		"55x 5.7.1 bad digits",       // not digits
		"550-5.7.1 only one line",    // '-' on the last line
		"550 5.7.1 a\r\n550 5.7.1 b", // ' ' on a non-last line
		"550-5.7.1 a\r\n450 4.7.1 b", // codes differ
		"550-5.7.1 a\r\n",            // trailing CRLF
		"550 5.7.1 bare\nLF",
		"550 5.7.1 bare\rCR",
		"550 5.7.1 nul\x00",
	}
	for _, s := range bad {
		if err := ValidateReplyText(s); err == nil {
			t.Errorf("ValidateReplyText(%q) accepted it", s)
		}
	}
}

func TestReplyCodeParts(t *testing.T) {
	r := ReplyCode{Text: "550-5.7.1 first line\r\n550-second\r\n550 5.7.1 last"}
	if got := r.SMTPCode(); got != 550 {
		t.Errorf("SMTPCode = %d", got)
	}
	if got := r.Enhanced(); got != "5.7.1" {
		t.Errorf("Enhanced = %q", got)
	}
	if got, want := r.Lines(), []string{"first line", "second", "last"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	r = ReplyCode{Text: "451 4.7.0"}
	if got, want := r.Lines(), []string{""}; !reflect.DeepEqual(got, want) {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	r = ReplyCode{Text: "oops"}
	if r.SMTPCode() != 0 || r.Enhanced() != "" {
		t.Errorf("junk text: SMTPCode %d, Enhanced %q", r.SMTPCode(), r.Enhanced())
	}
}
