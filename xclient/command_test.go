package xclient

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSupported(t *testing.T) {
	attrs := []Attr{{Name, "n"}, {Addr, "a"}, {Port, "1"}, {Proto, "SMTP"}, {Helo, "h"}, {Login, "l"}}
	tests := []struct {
		advertised string
		want       []Attr
	}{
		{"NAME ADDR PROTO HELO", []Attr{{Name, "n"}, {Addr, "a"}, {Proto, "SMTP"}, {Helo, "h"}}},
		{"helo name", []Attr{{Name, "n"}, {Helo, "h"}}},
		{"NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT", attrs},
		{"", nil},
		{"DESTADDR", nil},
	}
	for _, tt := range tests {
		if got := Supported(attrs, tt.advertised); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Supported(%q) = %v, want %v", tt.advertised, got, tt.want)
		}
	}
}

func TestCommands(t *testing.T) {
	long := strings.Repeat("h", 250) + ".example"
	tests := []struct {
		name    string
		verb    string
		attrs   []Attr
		want    []string
		wantErr bool
	}{
		{
			name:  "one line",
			verb:  VerbXClient,
			attrs: []Attr{{Name, "mx.example"}, {Addr, "IPV6:2001:db8::1"}, {Helo, "a b+c"}, {Login, Unavailable}},
			want:  []string{"XCLIENT NAME=mx.example ADDR=IPV6:2001:db8::1 HELO=a+20b+2Bc LOGIN=[UNAVAILABLE]"},
		},
		{
			name:  "split when too long",
			verb:  VerbXForward,
			attrs: []Attr{{Name, long}, {Addr, "192.0.2.1"}, {Helo, long}, {Source, SourceRemote}},
			want: []string{
				"XFORWARD NAME=" + long + " ADDR=192.0.2.1",
				"XFORWARD HELO=" + long + " SOURCE=REMOTE",
			},
		},
		{name: "nothing", verb: VerbXClient, attrs: nil, want: nil},
		{name: "attribute too long", verb: VerbXClient, attrs: []Attr{{Helo, strings.Repeat("+", 200)}}, wantErr: true},
		{name: "bad name", verb: VerbXClient, attrs: []Attr{{"NA ME", "x"}}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := Commands(tt.verb, tt.attrs)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Commands = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
		for _, l := range got {
			if len(l)+2 > MaxLine {
				t.Errorf("%s: line of %d octets", tt.name, len(l)+2)
			}
		}
	}
}

func TestCommandsFillLines(t *testing.T) {
	// Exactly at the limit: 510 characters and CRLF.
	value := strings.Repeat("x", 510-len("XCLIENT HELO="))
	got, err := Commands(VerbXClient, []Attr{{Helo, value}, {Name, "n"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0]) != 510 || got[1] != "XCLIENT NAME=n" {
		t.Errorf("Commands = %d lines, first %d long: %q", len(got), len(got[0]), got)
	}
	if _, err := Commands(VerbXClient, []Attr{{Helo, value + "x"}}); err == nil {
		t.Error("a 513-octet line was accepted")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		args    string
		want    []Attr
		wantErr bool
	}{
		{"NAME=mx.example ADDR=192.0.2.1", []Attr{{Name, "mx.example"}, {Addr, "192.0.2.1"}}, false},
		{"name=[UNAVAILABLE]  helo=a+20b", []Attr{{Name, Unavailable}, {Helo, "a b"}}, false},
		{"REVERSE_NAME=x DESTPORT=25", []Attr{{"REVERSE_NAME", "x"}, {DestPort, "25"}}, false},
		{"LOGIN=a=b", []Attr{{Login, "a=b"}}, false},
		{"", nil, true},
		{"   ", nil, true},
		{"NAME", nil, true},
		{"NAME=", nil, true},
		{"=x", nil, true},
		{"NA.ME=x", nil, true},
		{"HELO=+ZZ", nil, true},
		{"HELO=a\tb", nil, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.args)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tt.args, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrXtext) {
			t.Errorf("Parse(%q) error %v wraps neither ErrSyntax nor ErrXtext", tt.args, err)
		}
	}
}
