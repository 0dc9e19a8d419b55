package smtpclient

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		wire    string
		want    Reply
		wantErr bool
	}{
		{"one line", "250 2.0.0 Ok: queued as ABC\r\n", Reply{250, "2.0.0", []string{"Ok: queued as ABC"}}, false},
		{"no enhanced code", "220 mx.test ESMTP\r\n", Reply{220, "", []string{"mx.test ESMTP"}}, false},
		{"bare code", "250\r\n", Reply{250, "", []string{""}}, false},
		{"multi-line EHLO", "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
			Reply{250, "", []string{"mx.test", "PIPELINING", "SIZE 1000"}}, false},
		{"enhanced code on every line", "550-5.1.1 no such\r\n550 5.1.1 user\r\n", Reply{550, "5.1.1", []string{"no such", "user"}}, false},
		{"class mismatch is not an enhanced code", "450 5.1.1 odd\r\n", Reply{450, "", []string{"5.1.1 odd"}}, false},
		{"bare LF tolerated", "354 go ahead\n", Reply{354, "", []string{"go ahead"}}, false},
		{"334 challenge kept", "334 VXNlcm5hbWU6\r\n", Reply{334, "", []string{"VXNlcm5hbWU6"}}, false},
		{"mixed codes", "250-a\r\n251 b\r\n", Reply{}, true},
		{"not a code", "hello\r\n", Reply{}, true},
		{"bad separator", "250_x\r\n", Reply{}, true},
		{"code out of range", "650 x\r\n", Reply{}, true},
		{"truncated", "250-a\r\n", Reply{}, true},
		{"too long", "250 " + strings.Repeat("x", maxReplyLine) + "\r\n", Reply{}, true},
		{"too many lines", strings.Repeat("250-x\r\n", maxReplyLines+1) + "250 x\r\n", Reply{}, true},
	}
	for _, tt := range tests {
		got, err := readReply(bufio.NewReaderSize(strings.NewReader(tt.wire), 64))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestReadReplyErrorKinds(t *testing.T) {
	_, err := readReply(bufio.NewReader(strings.NewReader("oops\r\n")))
	if !errors.Is(err, errBadReply) {
		t.Errorf("malformed reply: %v does not wrap errBadReply", err)
	}
	_, err = readReply(bufio.NewReader(strings.NewReader("")))
	if err == nil || errors.Is(err, errBadReply) {
		t.Errorf("EOF: %v", err)
	}
}

func TestReplyString(t *testing.T) {
	r := Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"no such", "user"}}
	if got := r.String(); got != "550 5.1.1 no such user" {
		t.Errorf("String = %q", got)
	}
	if got := (Reply{Code: 250, Lines: []string{""}}).String(); got != "250" {
		t.Errorf("String = %q", got)
	}
}

func TestParseExtensions(t *testing.T) {
	rep := Reply{Code: 250, Lines: []string{"mx.test greets", "pipelining", "SIZE 10240000", "AUTH PLAIN LOGIN",
		"AUTH=LOGIN", "XCLIENT NAME ADDR PROTO HELO", ""}}
	want := map[string]string{"PIPELINING": "", "SIZE": "10240000", "AUTH": "PLAIN LOGIN", "XCLIENT": "NAME ADDR PROTO HELO"}
	if got := parseExtensions(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("parseExtensions = %v, want %v", got, want)
	}
}
