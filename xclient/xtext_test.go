package xclient

import (
	"errors"
	"testing"
)

func TestEncodeXtext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"mx.example.org", "mx.example.org"},
		{"[UNAVAILABLE]", "[UNAVAILABLE]"},
		{"a+b=c", "a+2Bb+3Dc"},
		{"two words", "two+20words"},
		{"tab\there", "tab+09here"},
		{"crlf\r\n", "crlf+0D+0A"},
		{"\x00\x7f\xff", "+00+7F+FF"},
		{"bücher", "b+C3+BCcher"},
		{"!~", "!~"},
	}
	for _, tt := range tests {
		if got := EncodeXtext(tt.in); got != tt.want {
			t.Errorf("EncodeXtext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeXtext(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false},
		{"mx.example.org", "mx.example.org", false},
		{"a+2Bb+3Dc", "a+b=c", false},
		{"two+20words", "two words", false},
		{"lower+2b", "lower+", false},
		{"b+C3+BCcher", "bücher", false},
		{"raw=equals", "raw=equals", false},
		{"+41", "A", false},
		{"+", "", true},
		{"+4", "", true},
		{"x+4", "", true},
		{"+GG", "", true},
		{"+4g", "", true},
		{"sp ace", "", true},
		{"ctl\x01", "", true},
		{"high\x80", "", true},
		{"high\x80+41", "", true},
	}
	for _, tt := range tests {
		got, err := DecodeXtext(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DecodeXtext(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrXtext) {
			t.Errorf("DecodeXtext(%q) error %v does not wrap ErrXtext", tt.in, err)
		}
	}
}
